package catalog

// Image is one Amazon-owned parent image: a name Image Builder users put in
// a recipe's parentImage as arn:aws:imagebuilder:REGION:aws:image/NAME/x.x.x.
//
// These entries are names and metadata only. kiln has no Amazon machine
// images, so none of them has any content yet: a recipe may reference them
// and ListImages (owner Amazon) shows them, but what a build actually starts
// from is decided by a later operator mapping from these names to real root
// filesystems (debootstrap trees, imported disk images, registry images).
type Image struct {
	Name string
	// Version is the image's semantic version. Amazon's managed images are
	// versioned by release date (2022.6.14), and these follow that style.
	Version string
	// Type is the ImageType: AMI for machine images, DOCKER for container
	// base images.
	Type      string
	Platform  string // Linux or Windows
	OsVersion string // matched by components' supportedOsVersions as a prefix
	// Architecture is x86_64 or arm64, as the name's suffix says.
	Architecture string
}

// images is the built-in list, sorted by name. It holds the Linux
// distributions kiln can plausibly provide as bases, under the names AWS
// uses for its managed images (debian-12-* has no AWS counterpart; it is
// kiln's own, because Debian is what kiln's tests bootstrap locally).
var images = []Image{
	{Name: "amazon-linux-2-arm64", Version: "2025.1.1", Type: "AMI", Platform: "Linux", OsVersion: "Amazon Linux 2", Architecture: "arm64"},
	{Name: "amazon-linux-2-x86", Version: "2025.1.1", Type: "AMI", Platform: "Linux", OsVersion: "Amazon Linux 2", Architecture: "x86_64"},
	{Name: "amazon-linux-2023-arm64", Version: "2025.1.1", Type: "AMI", Platform: "Linux", OsVersion: "Amazon Linux 2023", Architecture: "arm64"},
	{Name: "amazon-linux-2023-x86", Version: "2025.1.1", Type: "AMI", Platform: "Linux", OsVersion: "Amazon Linux 2023", Architecture: "x86_64"},
	{Name: "amazon-linux-x86-2023", Version: "2025.1.1", Type: "DOCKER", Platform: "Linux", OsVersion: "Amazon Linux 2023", Architecture: "x86_64"},
	{Name: "amazon-linux-x86-latest", Version: "2025.1.1", Type: "DOCKER", Platform: "Linux", OsVersion: "Amazon Linux 2", Architecture: "x86_64"},
	{Name: "debian-12-arm64", Version: "2025.1.1", Type: "AMI", Platform: "Linux", OsVersion: "Debian 12", Architecture: "arm64"},
	{Name: "debian-12-x86", Version: "2025.1.1", Type: "AMI", Platform: "Linux", OsVersion: "Debian 12", Architecture: "x86_64"},
	{Name: "ubuntu-server-22-lts-arm64", Version: "2025.1.1", Type: "AMI", Platform: "Linux", OsVersion: "Ubuntu 22", Architecture: "arm64"},
	{Name: "ubuntu-server-22-lts-x86", Version: "2025.1.1", Type: "AMI", Platform: "Linux", OsVersion: "Ubuntu 22", Architecture: "x86_64"},
	{Name: "ubuntu-server-24-lts-arm64", Version: "2025.1.1", Type: "AMI", Platform: "Linux", OsVersion: "Ubuntu 24", Architecture: "arm64"},
	{Name: "ubuntu-server-24-lts-x86", Version: "2025.1.1", Type: "AMI", Platform: "Linux", OsVersion: "Ubuntu 24", Architecture: "x86_64"},
}

// Images returns the built-in Amazon-owned parent images sorted by name.
// The slice is a copy; callers may change it.
func Images() []Image {
	return append([]Image(nil), images...)
}
