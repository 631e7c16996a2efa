package machine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/sandboxed"
)

// runner runs commands in the instance of the step's workflow: the build
// sandbox, or the booted test guest through its agent.
func (in *instance) runner(s *engine.Step) (sandboxed.Runner, error) {
	if s.Workflow == awsapi.WorkflowTypeTest {
		if in.agent == nil {
			return nil, fmt.Errorf("%s needs the test instance: no LaunchInstance step has booted it", s.Action)
		}
		in.console.set(s.Log)
		return func(ctx context.Context, what string, stdout, stderr io.Writer, argv ...string) error {
			code, err := in.agent.Run(ctx, argv, nil, "/", stdout, stderr)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if code != 0 {
				return fmt.Errorf("%s: exit status %d", what, code)
			}
			return nil
		}, nil
	}
	if in.Upper == "" {
		return nil, fmt.Errorf("%s needs the build instance: no LaunchInstance step has run in this workflow", s.Action)
	}
	if err := in.Bootstrap(s); err != nil {
		return nil, err
	}
	return in.SandboxRunner(in.Config(false, s.Log)), nil
}

// registerImage is RegisterImage: the built disk becomes an AMI of the
// image's owner in kiln's region now (with CreateImage's id when
// CreateImage ran), named by the step's name input or the image's.
func (in *instance) registerImage(ctx context.Context, s *engine.Step) error {
	if in.disk == "" {
		return errors.New("there is no disk to register: a CreateImage step makes it")
	}
	name := s.InputString("name")
	if name == "" {
		name = in.B.Image.Name + " " + time.Now().UTC().Format("2006-01-02T15-04-05.000Z")
	}
	a := ami.AMI{
		ImageID: in.imageID, Name: name, Description: s.InputString("description"), Region: in.x.Region,
		AccountID: in.B.Job.Account, Repository: Repository, Digest: in.digest, Disk: in.disk, Size: in.size,
	}
	in.imageID = "" // registered: distribution makes its own AMIs
	got, err := in.B.RegisterAMIs(ctx, []ami.AMI{a})
	if err != nil {
		return err
	}
	s.Logf("registered %s %q in %s for account %s", got[0].ImageID, got[0].Name, got[0].Region, got[0].AccountID)
	s.Outputs["imageId"] = got[0].ImageID
	return nil
}

// distributedIDs reads the AMI ids of a distributedImages input (the
// DistributeImage step's output).
func distributedIDs(s *engine.Step) ([]map[string]any, error) {
	v, ok := s.Input("distributedImages")
	list, isList := v.([]any)
	if !ok || !isList {
		return nil, errors.New("distributedImages must be the list a DistributeImage step outputs ($.stepOutputs.STEP.distributedImages)")
	}
	var out []map[string]any
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, errors.New("distributedImages: each item must be an image with amiId and region")
		}
		if id, _ := m["amiId"].(string); id == "" {
			return nil, errors.New("distributedImages: an item has no amiId")
		}
		out = append(out, m)
	}
	return out, nil
}

// modifyAttributes is ModifyImageAttributes: the launch permissions the
// distribution configuration gives each region are applied to the AMIs
// this build distributed there.
func (in *instance) modifyAttributes(ctx context.Context, s *engine.Step) error {
	images, err := distributedIDs(s)
	if err != nil {
		return err
	}
	perms := map[string][]string{}
	if dc := in.B.Image.DistributionConfiguration; dc != nil {
		for _, d := range dc.Distributions {
			if a := d.AmiDistributionConfiguration; a != nil && a.LaunchPermission != nil {
				perms[d.Region] = a.LaunchPermission.UserIds
				if len(a.LaunchPermission.UserGroups) > 0 || len(a.LaunchPermission.OrganizationArns) > 0 || len(a.LaunchPermission.OrganizationalUnitArns) > 0 {
					s.Logf("region %s: kiln has no user groups or organizations; only launchPermission.userIds apply", d.Region)
				}
			}
		}
	}
	modified := []map[string]any{}
	for _, img := range images {
		id, _ := img["amiId"].(string)
		region, _ := img["region"].(string)
		users := perms[region]
		err := in.B.UpdateAMI(ctx, id, func(a *ami.AMI) { a.Launchable = users })
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		s.Logf("%s in %s: launch permission for %d account(s)", id, region, len(users))
		modified = append(modified, map[string]any{"amiId": id, "region": region, "launchPermission": users})
	}
	s.Outputs["modifiedImages"] = modified
	return nil
}

// applyConfigurations is ApplyImageConfigurations. kiln has no EC2
// launch templates, License Manager, SSM Parameter Store or fast launch:
// the step says which configurations it could not apply and passes the
// images on.
func (in *instance) applyConfigurations(s *engine.Step) error {
	images, err := distributedIDs(s)
	if err != nil {
		return err
	}
	if dc := in.B.Image.DistributionConfiguration; dc != nil {
		for _, d := range dc.Distributions {
			n := len(d.LaunchTemplateConfigurations) + len(d.LicenseConfigurationArns) + len(d.SsmParameterConfigurations) + len(d.FastLaunchConfigurations)
			if n > 0 {
				s.Logf("region %s: %d launch template, license, SSM parameter or fast launch configuration(s) not applied: kiln has none of these services", d.Region, n)
			}
		}
	}
	s.Logf("%d image(s) configured", len(images))
	s.Outputs["configuredImages"] = images
	return nil
}

// Rollback implements engine.Rollbacker: an aborted test workflow's
// guest is powered off unless the infrastructure configuration keeps
// failed instances.
func (in *instance) Rollback(ctx context.Context, s *engine.Step) error {
	if s.Action != "LaunchInstance" {
		s.Logf("nothing to undo: kiln keeps no SSM association")
		return nil
	}
	if in.B.KeepOnFailure() {
		s.Logf("the instance is kept: terminateInstanceOnFailure is false")
		return nil
	}
	if s.Workflow == awsapi.WorkflowTypeTest {
		return in.terminateTest(ctx, s)
	}
	s.Logf("the build instance is terminated when the build ends")
	return nil
}
