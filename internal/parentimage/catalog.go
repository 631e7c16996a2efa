// Package parentimage gets a first parent image for kiln's container
// builds from where distributions publish them — the Docker Official
// Images in a registry, an Alpine mirror's minirootfs tarball, or
// debootstrap against a Debian or Ubuntu mirror — and pushes it into
// kiln's own registry. Every byte is bounded (a size limit per blob, a
// stall timeout) and every digest or checksum the source publishes is
// checked before anything is pushed, so a newcomer's first image is the one
// the distribution made.
package parentimage

import (
	"fmt"
	"regexp"
	"strings"
)

// Distribution is a parent image kiln knows how to get, by the name a user
// types (`kiln images pull-parent debian-12`).
type Distribution struct {
	Name string // debian-12
	// Repository and Tag are the image in a Docker-Hub-shaped registry
	// (the Docker Official Images: library/debian:12).
	Repository, Tag string
	// Family is how the mirror route gets it: "alpine" (the minirootfs
	// tarball) or "debootstrap".
	Family string
	// AlpineBranch is the mirror directory of an Alpine release
	// (latest-stable, v3.20).
	AlpineBranch string
	// Suite and Script are debootstrap's suite and, when the host's
	// debootstrap may not know the suite yet, the script to use for it.
	Suite, Script string
	// Keyring is the archive keyring debootstrap checks the mirror's
	// Release file with, and KeyringPackage the Debian package that has it.
	Keyring, KeyringPackage string
	// To is where it goes in kiln's registry unless --to says otherwise.
	To string
}

// known are the names pull-parent accepts; alpine-3.NN is also accepted
// (see Lookup).
var known = []Distribution{
	{Name: "debian-12", Repository: "library/debian", Tag: "12", Family: "debootstrap", Suite: "bookworm", Script: "sid",
		Keyring: "/usr/share/keyrings/debian-archive-keyring.gpg", KeyringPackage: "debian-archive-keyring", To: "parents/debian:12"},
	{Name: "ubuntu-24.04", Repository: "library/ubuntu", Tag: "24.04", Family: "debootstrap", Suite: "noble", Script: "gutsy",
		Keyring: "/usr/share/keyrings/ubuntu-archive-keyring.gpg", KeyringPackage: "ubuntu-keyring", To: "parents/ubuntu:24.04"},
	{Name: "alpine-3", Repository: "library/alpine", Tag: "3", Family: "alpine", AlpineBranch: "latest-stable", To: "parents/alpine:3"},
}

// Names lists the names Lookup accepts, for messages.
func Names() []string {
	names := make([]string, 0, len(known)+1)
	for _, d := range known {
		names = append(names, d.Name)
	}
	return append(names, "alpine-3.NN")
}

var alpineMinor = regexp.MustCompile(`^alpine-3\.([0-9]{1,3})$`)

// Lookup returns the distribution called name. alpine-3 follows Alpine's
// latest stable release; alpine-3.NN pins one (the tag 3.NN, the mirror
// directory v3.NN), since a build's parent often should not move.
func Lookup(name string) (Distribution, error) {
	for _, d := range known {
		if d.Name == name {
			return d, nil
		}
	}
	if m := alpineMinor.FindStringSubmatch(name); m != nil {
		v := "3." + m[1]
		return Distribution{Name: name, Repository: "library/alpine", Tag: v, Family: "alpine", AlpineBranch: "v" + v, To: "parents/alpine:" + v}, nil
	}
	return Distribution{}, fmt.Errorf("unknown parent image %q: known are %s", name, strings.Join(Names(), ", "))
}
