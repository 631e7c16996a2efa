package main

import (
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/container"
	"github.com/kiln-build/kiln/internal/service"
)

// wireContainerPlatforms lets CreateImage read the platforms of container
// parent images in kiln's registry, so a build for an architecture its
// parent has no image of (arm64 instance types on an amd64-only parent,
// a kiln:platforms tag asking for more than the parent has) is refused
// when it is asked for, not when it runs.
func wireContainerPlatforms(svc *service.Service, builds *engine.Engine) {
	if x, ok := builds.Executors[awsapi.ImageTypeDocker].(*container.Executor); ok {
		svc.ContainerParentPlatforms = x.ParentPlatforms
	}
}
