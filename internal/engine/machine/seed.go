package machine

import (
	"path/filepath"

	"github.com/kiln-build/kiln/internal/cloudinit"
	"github.com/kiln-build/kiln/internal/vm"
)

// testSeed writes the test instance's cloud-init NoCloud seed and
// attaches it to cfg, so an image with cloud-init boots its test
// instance configured as on EC2: a new instance ID (cloud-init's
// per-instance modules run, as on a first launch from the new AMI), an
// EC2-style hostname, DHCP on the NIC when the machine has one, and the
// recipe's userDataOverride as user data. Image Builder documents
// userDataOverride as the user data of the instances it launches for a
// build; it is UNSURE whether the test instance gets it too, and kiln
// gives it, as a test instance then starts as the image will in use. An
// infrastructure configuration's keyPair is an EC2 key pair name whose
// key kiln does not hold, so the seed carries no SSH key.
func (in *instance) testSeed(cfg *vm.Config) (cloudinit.Seed, error) {
	seed := cloudinit.Seed{InstanceID: cloudinit.NewInstanceID(), Hostname: cloudinit.Hostname(in.x.Region)}
	if aic := in.B.Image.ImageRecipe.AdditionalInstanceConfiguration; aic != nil && aic.UserDataOverride != "" {
		ud, err := decodeUserData(aic.UserDataOverride)
		if err != nil {
			return seed, err
		}
		seed.UserData = ud
	}
	if cfg.Network || len(cfg.PortForwards) > 0 {
		seed.MAC = cloudinit.MACFor(seed.InstanceID)
		cfg.MAC = seed.MAC
	}
	path := filepath.Join(in.B.WorkDir, "test-seed.iso")
	if err := seed.WriteFile(path); err != nil {
		return seed, err
	}
	cfg.Seed = path
	return seed, nil
}
