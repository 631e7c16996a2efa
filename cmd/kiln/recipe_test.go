package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

const (
	amazonLinux2023 = "arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-2023-x86/x.x.x"
	dockerTemplate  = "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\nCMD [\"/bin/sh\"]\n"
)

// versionARN turns a component build ARN into its version ARN with the
// given version text (e.g. "x.x.x").
func versionARN(buildARN, version string) string {
	parts := strings.Split(buildARN, "/")
	return strings.Join(parts[:2], "/") + "/" + version
}

// helloParams sets the hello component's required parameter.
func helloParams(target string) []types.ComponentParameter {
	return []types.ComponentParameter{{Name: aws.String("Target"), Value: []string{target}}}
}

func simpleRecipe(name, version, componentARN string) *imagebuilder.CreateImageRecipeInput {
	return &imagebuilder.CreateImageRecipeInput{
		Name: aws.String(name), SemanticVersion: aws.String(version), ParentImage: aws.String(amazonLinux2023),
		Components: []types.ComponentConfiguration{{ComponentArn: aws.String(componentARN), Parameters: helloParams("world")}},
	}
}

func fullBlockDeviceMappings() []types.InstanceBlockDeviceMapping {
	return []types.InstanceBlockDeviceMapping{
		{
			DeviceName: aws.String("/dev/xvda"),
			Ebs: &types.EbsInstanceBlockDeviceSpecification{
				Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(false), Iops: aws.Int32(3000),
				KmsKeyId:   aws.String("arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
				SnapshotId: aws.String("snap-0123456789abcdef0"), VolumeSize: aws.Int32(40),
				VolumeType: types.EbsVolumeTypeGp3, Throughput: aws.Int32(250),
			},
		},
		{DeviceName: aws.String("/dev/sdb"), VirtualName: aws.String("ephemeral0")},
		{
			DeviceName: aws.String("/dev/sdc"),
			Ebs:        &types.EbsInstanceBlockDeviceSpecification{VolumeType: types.EbsVolumeTypeIo2, Iops: aws.Int32(6400), VolumeSize: aws.Int32(100)},
		},
	}
}

func TestImageRecipeRoundTrip(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	first := createHello(t, c, "hello-one", "1.0.0")
	second := createHello(t, c, "hello-two", "2.1.0")

	components := []types.ComponentConfiguration{
		{ComponentArn: aws.String(first), Parameters: []types.ComponentParameter{
			{Name: aws.String("Greeting"), Value: []string{"hi"}},
			{Name: aws.String("Target"), Value: []string{"one"}},
		}},
		// A wildcard ARN is stored as sent; each build resolves it afresh.
		{ComponentArn: aws.String(versionARN(second, "2.x.x")), Parameters: helloParams("two")},
		{ComponentArn: aws.String("arn:aws:imagebuilder:us-east-1:aws:component/update-linux/x.x.x")},
	}
	in := &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("Full Recipe"), SemanticVersion: aws.String("1.2.3"), Description: aws.String("every member set"),
		ParentImage:         aws.String(amazonLinux2023),
		Components:          components,
		BlockDeviceMappings: fullBlockDeviceMappings(),
		WorkingDirectory:    aws.String("/var/tmp/build"),
		AdditionalInstanceConfiguration: &types.AdditionalInstanceConfiguration{
			SystemsManagerAgent: &types.SystemsManagerAgent{UninstallAfterBuild: aws.Bool(true)},
			UserDataOverride:    aws.String("IyEvYmluL2Jhc2gKbWtkaXIgLXAgL3Zhci9iYi8K"),
		},
		Tags:        map[string]string{"team": "images", "stage": "test"},
		ClientToken: aws.String("recipe-token-1"),
	}
	out, err := c.CreateImageRecipe(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	wantARN := "arn:aws:imagebuilder:us-east-1:000000000000:image-recipe/full-recipe/1.2.3"
	if aws.ToString(out.ImageRecipeArn) != wantARN || aws.ToString(out.ClientToken) != "recipe-token-1" {
		t.Fatalf("CreateImageRecipe = %s (token %s)", aws.ToString(out.ImageRecipeArn), aws.ToString(out.ClientToken))
	}
	if refs := out.LatestVersionReferences; refs == nil || aws.ToString(refs.LatestMajorVersionArn) != strings.TrimSuffix(wantARN, "1.2.3")+"1.x.x" {
		t.Errorf("latestVersionReferences = %+v", refs)
	}
	again, err := c.CreateImageRecipe(ctx, in)
	if err != nil || aws.ToString(again.ImageRecipeArn) != wantARN {
		t.Errorf("idempotent retry = %v, %v", again, err)
	}

	got, err := c.GetImageRecipe(ctx, &imagebuilder.GetImageRecipeInput{ImageRecipeArn: out.ImageRecipeArn})
	if err != nil {
		t.Fatal(err)
	}
	r := got.ImageRecipe
	sameValue(t, "arn", aws.ToString(r.Arn), wantARN)
	sameValue(t, "name", aws.ToString(r.Name), "Full Recipe")
	sameValue(t, "version", aws.ToString(r.Version), "1.2.3")
	sameValue(t, "description", aws.ToString(r.Description), "every member set")
	sameValue(t, "type", r.Type, types.ImageTypeAmi)
	sameValue(t, "platform", r.Platform, types.PlatformLinux)
	sameValue(t, "owner", aws.ToString(r.Owner), testAccount)
	sameValue(t, "parentImage", aws.ToString(r.ParentImage), amazonLinux2023)
	sameValue(t, "components", r.Components, components)
	sameValue(t, "blockDeviceMappings", r.BlockDeviceMappings, fullBlockDeviceMappings())
	sameValue(t, "workingDirectory", aws.ToString(r.WorkingDirectory), "/var/tmp/build")
	sameValue(t, "additionalInstanceConfiguration", r.AdditionalInstanceConfiguration, in.AdditionalInstanceConfiguration)
	sameValue(t, "tags", r.Tags, in.Tags)
	if d := aws.ToString(r.DateCreated); !strings.HasSuffix(d, "Z") || len(d) != len("2006-01-02T15:04:05.000Z") {
		t.Errorf("dateCreated = %q", d)
	}

	// Names differing only in case and spaces collide.
	dup := simpleRecipe("full recipe", "1.2.3", first)
	_, err = c.CreateImageRecipe(ctx, dup)
	wantCode(t, err, "ResourceAlreadyExistsException")
	if !strings.Contains(err.Error(), "The following resource 'ImageRecipe' already exists: '"+wantARN+"'.") {
		t.Errorf("message: %v", err)
	}

	list, err := c.ListImageRecipes(ctx, &imagebuilder.ListImageRecipesInput{})
	if err != nil || len(list.ImageRecipeSummaryList) != 1 {
		t.Fatalf("ListImageRecipes = %+v, %v", list, err)
	}
	sum := list.ImageRecipeSummaryList[0]
	if aws.ToString(sum.Arn) != wantARN || aws.ToString(sum.Owner) != testAccount || sum.Platform != types.PlatformLinux ||
		aws.ToString(sum.ParentImage) != amazonLinux2023 || sum.Tags["team"] != "images" || aws.ToString(sum.Name) != "Full Recipe" {
		t.Errorf("summary = %+v", sum)
	}

	// The component the recipe names by build ARN cannot go while it does.
	_, err = c.DeleteComponent(ctx, &imagebuilder.DeleteComponentInput{ComponentBuildVersionArn: aws.String(first)})
	wantCode(t, err, "ResourceDependencyException")

	del, err := c.DeleteImageRecipe(ctx, &imagebuilder.DeleteImageRecipeInput{ImageRecipeArn: out.ImageRecipeArn})
	if err != nil || aws.ToString(del.ImageRecipeArn) != wantARN {
		t.Fatalf("DeleteImageRecipe = %v, %v", del, err)
	}
	_, err = c.GetImageRecipe(ctx, &imagebuilder.GetImageRecipeInput{ImageRecipeArn: out.ImageRecipeArn})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = c.DeleteImageRecipe(ctx, &imagebuilder.DeleteImageRecipeInput{ImageRecipeArn: out.ImageRecipeArn})
	wantCode(t, err, "ResourceNotFoundException")
	if _, err := c.DeleteComponent(ctx, &imagebuilder.DeleteComponentInput{ComponentBuildVersionArn: aws.String(first)}); err != nil {
		t.Errorf("component delete after the recipe is gone: %v", err)
	}
}

func TestImageRecipeValidation(t *testing.T) {
	t.Parallel()
	credFile, alice, bob := writeCredentials(t)
	srv := kilntest.Start(t, "--credentials", credFile)
	c := srv.Client(alice)
	ctx := kilntest.Context(t)
	hello := createHello(t, c, "hello", "1.0.0")
	bobs := createHello(t, srv.Client(bob), "bobs", "1.0.0")
	winOut, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("win"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformWindows,
		Data: aws.String(testOnlyDoc),
	})
	if err != nil {
		t.Fatal(err)
	}
	win := aws.ToString(winOut.ComponentBuildVersionArn)
	osBound, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("ubuntu-only"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		SupportedOsVersions: []string{"Ubuntu"}, Data: aws.String(testOnlyDoc),
	})
	if err != nil {
		t.Fatal(err)
	}

	with := func(edit func(*imagebuilder.CreateImageRecipeInput)) *imagebuilder.CreateImageRecipeInput {
		in := simpleRecipe("bad", "1.0.0", hello)
		edit(in)
		return in
	}
	comp := func(a string, params ...types.ComponentParameter) types.ComponentConfiguration {
		return types.ComponentConfiguration{ComponentArn: aws.String(a), Parameters: params}
	}
	target := types.ComponentParameter{Name: aws.String("Target"), Value: []string{"x"}}
	var many []types.ComponentConfiguration
	for i := range 21 {
		many = append(many, comp(fmt.Sprintf("arn:aws:imagebuilder:us-east-1:111111111111:component/c%d/1.0.0/1", i)))
	}
	for _, tc := range []struct {
		name string
		in   *imagebuilder.CreateImageRecipeInput
		code string
		msg  string
	}{
		{"unknown component", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.Components = []types.ComponentConfiguration{comp(strings.Replace(hello, "/hello/", "/nope/", 1))}
		}), "ResourceNotFoundException", "does not exist"},
		{"another account's component", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.Components = []types.ComponentConfiguration{comp(bobs, target)}
		}), "ResourceNotFoundException", "does not exist"},
		{"wildcard resolving to nothing", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.Components = []types.ComponentConfiguration{comp(versionARN(hello, "2.x.x"), target)}
		}), "ResourceNotFoundException", "does not exist"},
		{"unknown parameter", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.Components = []types.ComponentConfiguration{comp(hello, target, types.ComponentParameter{Name: aws.String("S3BucketName"), Value: []string{"b"}})}
		}), "InvalidParameterValueException", "'components[0].parameters' is not valid. The following parameters are not defined in the provided component: S3BucketName"},
		{"missing required parameter", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.Components = []types.ComponentConfiguration{comp(hello)}
		}), "InvalidParameterValueException", "must be set: Target"},
		{"parameter twice", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.Components = []types.ComponentConfiguration{comp(hello, target, target)}
		}), "InvalidParameterValueException", "more than once: Target"},
		{"duplicate component", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.Components = []types.ComponentConfiguration{comp(hello, target), comp(versionARN(hello, "x.x.x"), target)}
		}), "InvalidRequestException", "included twice"},
		{"platform mismatch", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.Components = []types.ComponentConfiguration{comp(win)}
		}), "InvalidRequestException", "platform Windows"},
		{"windows parent, linux component", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.ParentImage = aws.String("arn:aws:imagebuilder:us-east-1:aws:image/windows-server-2022-english-full-base-x86/x.x.x")
		}), "InvalidRequestException", "recipe's platform is Windows"},
		{"unsupported os version", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.Components = []types.ComponentConfiguration{comp(aws.ToString(osBound.ComponentBuildVersionArn))}
		}), "InvalidRequestException", "Amazon Linux 2023"},
		{"own parent image missing", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.ParentImage = aws.String("arn:aws:imagebuilder:us-east-1:111111111111:image/mine/x.x.x")
		}), "ResourceNotFoundException", "is not AVAILABLE"},
		{"container reference as AMI parent", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.ParentImage = aws.String("debian:12")
		}), "InvalidParameterValueException", "parentImage"},
		{"recipe ARN as component", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.Components = []types.ComponentConfiguration{comp("arn:aws:imagebuilder:us-east-1:111111111111:image-recipe/r/1.0.0")}
		}), "InvalidParameterValueException", "componentArn"},
		{"too many components", with(func(in *imagebuilder.CreateImageRecipeInput) { in.Components = many }), "ServiceQuotaExceededException", "at most 20"},
		{"throughput on gp2", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.BlockDeviceMappings = []types.InstanceBlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"),
				Ebs: &types.EbsInstanceBlockDeviceSpecification{VolumeType: types.EbsVolumeTypeGp2, Throughput: aws.Int32(300)}}}
		}), "InvalidParameterValueException", "blockDeviceMappings[0].ebs.throughput"},
		{"iops on st1", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.BlockDeviceMappings = []types.InstanceBlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"),
				Ebs: &types.EbsInstanceBlockDeviceSpecification{VolumeType: types.EbsVolumeTypeSt1, Iops: aws.Int32(300)}}}
		}), "InvalidParameterValueException", "iops"},
		{"user data not base64", with(func(in *imagebuilder.CreateImageRecipeInput) {
			in.AdditionalInstanceConfiguration = &types.AdditionalInstanceConfiguration{UserDataOverride: aws.String("echo hi")}
		}), "InvalidParameterValueException", "userDataOverride"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateImageRecipe(ctx, tc.in)
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not mention %q", err, tc.msg)
			}
		})
	}
	list, err := c.ListImageRecipes(ctx, &imagebuilder.ListImageRecipesInput{})
	if err != nil || len(list.ImageRecipeSummaryList) != 0 {
		t.Errorf("failed creates left recipes: %+v, %v", list, err)
	}

	// Accepted forms of parentImage: an AMI ID, an Amazon-owned name kiln's
	// catalogue lacks (its platform from its name), a wildcard ARN.
	for i, parent := range []string{"ami-0123456789abcdef0", "arn:aws:imagebuilder:us-east-1:aws:image/rocky-linux-9-x86/x.x.x",
		"arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-2-x86/x.x.x"} {
		in := simpleRecipe(fmt.Sprintf("parent-%d", i), "1.0.0", versionARN(hello, "1.0.x"))
		in.ParentImage = aws.String(parent)
		if _, err := c.CreateImageRecipe(ctx, in); err != nil {
			t.Errorf("parentImage %s: %v", parent, err)
		}
	}
}

func containerRecipeInput(name, version, componentARN string) *imagebuilder.CreateContainerRecipeInput {
	return &imagebuilder.CreateContainerRecipeInput{
		ContainerType: types.ContainerTypeDocker, Name: aws.String(name), SemanticVersion: aws.String(version),
		Components:             []types.ComponentConfiguration{{ComponentArn: aws.String(componentARN), Parameters: helloParams("container")}},
		ParentImage:            aws.String("docker.io/library/debian:12"),
		DockerfileTemplateData: aws.String(dockerTemplate),
		TargetRepository:       &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("kiln/app")},
	}
}

func TestContainerRecipeRoundTrip(t *testing.T) {
	t.Parallel()
	// The template by URI comes from a loopback test server: the
	// operator's opt-in lets kiln fetch from there.
	srv := kilntest.Start(t, "--allow-fetch-cidr", "127.0.0.0/8")
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	hello := createHello(t, c, "hello", "1.0.0")

	in := containerRecipeInput("App Container", "1.0.0", hello)
	in.Description = aws.String("every member set")
	in.InstanceConfiguration = &types.InstanceConfiguration{Image: aws.String("ami-0123456789abcdef0"), BlockDeviceMappings: fullBlockDeviceMappings()}
	in.PlatformOverride = types.PlatformLinux
	in.ImageOsVersionOverride = aws.String("Debian 12")
	in.WorkingDirectory = aws.String("/work")
	in.KmsKeyId = aws.String("arn:aws:kms:us-east-1:000000000000:alias/images")
	in.Tags = map[string]string{"app": "demo"}
	out, err := c.CreateContainerRecipe(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	wantARN := "arn:aws:imagebuilder:us-east-1:000000000000:container-recipe/app-container/1.0.0"
	if aws.ToString(out.ContainerRecipeArn) != wantARN {
		t.Fatalf("arn %s", aws.ToString(out.ContainerRecipeArn))
	}
	got, err := c.GetContainerRecipe(ctx, &imagebuilder.GetContainerRecipeInput{ContainerRecipeArn: out.ContainerRecipeArn})
	if err != nil {
		t.Fatal(err)
	}
	r := got.ContainerRecipe
	sameValue(t, "arn", aws.ToString(r.Arn), wantARN)
	sameValue(t, "containerType", r.ContainerType, types.ContainerTypeDocker)
	sameValue(t, "name", aws.ToString(r.Name), "App Container")
	sameValue(t, "description", aws.ToString(r.Description), "every member set")
	sameValue(t, "version", aws.ToString(r.Version), "1.0.0")
	sameValue(t, "platform", r.Platform, types.PlatformLinux)
	sameValue(t, "owner", aws.ToString(r.Owner), testAccount)
	sameValue(t, "components", r.Components, in.Components)
	sameValue(t, "instanceConfiguration", r.InstanceConfiguration, in.InstanceConfiguration)
	sameValue(t, "dockerfileTemplateData", aws.ToString(r.DockerfileTemplateData), dockerTemplate)
	sameValue(t, "kmsKeyId", aws.ToString(r.KmsKeyId), aws.ToString(in.KmsKeyId))
	sameValue(t, "encrypted", aws.ToBool(r.Encrypted), true)
	sameValue(t, "parentImage", aws.ToString(r.ParentImage), "docker.io/library/debian:12")
	sameValue(t, "workingDirectory", aws.ToString(r.WorkingDirectory), "/work")
	sameValue(t, "targetRepository", r.TargetRepository, in.TargetRepository)
	sameValue(t, "tags", r.Tags, in.Tags)

	_, err = c.CreateContainerRecipe(ctx, containerRecipeInput("app container", "1.0.0", hello))
	wantCode(t, err, "ResourceAlreadyExistsException")

	// A template by URI is fetched at create time and returned as text;
	// an Image Builder image ARN is a parent too.
	docs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/Dockerfile.template" {
			w.Write([]byte(dockerTemplate))
			return
		}
		http.NotFound(w, r)
	}))
	defer docs.Close()
	byURI := containerRecipeInput("by-uri", "1.0.0", hello)
	byURI.DockerfileTemplateData = nil
	byURI.DockerfileTemplateUri = aws.String(docs.URL + "/Dockerfile.template")
	byURI.ParentImage = aws.String("arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-x86-latest/x.x.x")
	uriOut, err := c.CreateContainerRecipe(ctx, byURI)
	if err != nil {
		t.Fatal(err)
	}
	got, err = c.GetContainerRecipe(ctx, &imagebuilder.GetContainerRecipeInput{ContainerRecipeArn: uriOut.ContainerRecipeArn})
	if err != nil || aws.ToString(got.ContainerRecipe.DockerfileTemplateData) != dockerTemplate {
		t.Errorf("template by uri: %+v, %v", got, err)
	}

	list, err := c.ListContainerRecipes(ctx, &imagebuilder.ListContainerRecipesInput{
		Filters: []types.Filter{{Name: aws.String("containerType"), Values: []string{"DOCKER"}}, {Name: aws.String("name"), Values: []string{"by-uri"}}},
	})
	if err != nil || len(list.ContainerRecipeSummaryList) != 1 || aws.ToString(list.ContainerRecipeSummaryList[0].Arn) != aws.ToString(uriOut.ContainerRecipeArn) ||
		list.ContainerRecipeSummaryList[0].ContainerType != types.ContainerTypeDocker || aws.ToString(list.ContainerRecipeSummaryList[0].Owner) != testAccount {
		t.Errorf("ListContainerRecipes = %+v, %v", list, err)
	}

	_, err = c.DeleteComponent(ctx, &imagebuilder.DeleteComponentInput{ComponentBuildVersionArn: aws.String(hello)})
	wantCode(t, err, "ResourceDependencyException")
	for _, a := range []*string{out.ContainerRecipeArn, uriOut.ContainerRecipeArn} {
		if _, err := c.DeleteContainerRecipe(ctx, &imagebuilder.DeleteContainerRecipeInput{ContainerRecipeArn: a}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.GetContainerRecipe(ctx, &imagebuilder.GetContainerRecipeInput{ContainerRecipeArn: out.ContainerRecipeArn})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestContainerRecipeValidation(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	hello := createHello(t, c, "hello", "1.0.0")
	with := func(edit func(*imagebuilder.CreateContainerRecipeInput)) *imagebuilder.CreateContainerRecipeInput {
		in := containerRecipeInput("bad", "1.0.0", hello)
		edit(in)
		return in
	}
	for _, tc := range []struct {
		name string
		in   *imagebuilder.CreateContainerRecipeInput
		code string
		msg  string
	}{
		{"template without placeholders", with(func(in *imagebuilder.CreateContainerRecipeInput) {
			in.DockerfileTemplateData = aws.String("FROM debian:12\nRUN true\n")
		}), "InvalidParameterValueException", "dockerfileTemplateData"},
		{"unknown placeholder", with(func(in *imagebuilder.CreateContainerRecipeInput) {
			in.DockerfileTemplateData = aws.String(dockerTemplate + "{{{ imagebuilder:x }}}\n")
		}), "InvalidParameterValueException", "line 5: '{{{ imagebuilder:x }}}' is not an Image Builder placeholder"},
		{"both template data and uri", with(func(in *imagebuilder.CreateContainerRecipeInput) {
			in.DockerfileTemplateUri = aws.String("s3://bucket/Dockerfile")
		}), "InvalidRequestException", "not both"},
		{"neither template data nor uri", with(func(in *imagebuilder.CreateContainerRecipeInput) {
			in.DockerfileTemplateData = nil
		}), "InvalidRequestException", "dockerfileTemplateUri"},
		{"unreadable template uri", with(func(in *imagebuilder.CreateContainerRecipeInput) {
			in.DockerfileTemplateData = nil
			in.DockerfileTemplateUri = aws.String("s3://bucket/Dockerfile")
		}), "InvalidParameterValueException", "dockerfileTemplateUri"},
		{"bad parent reference", with(func(in *imagebuilder.CreateContainerRecipeInput) {
			in.ParentImage = aws.String("Not A Reference!")
		}), "InvalidParameterValueException", "parentImage"},
		{"windows override, linux component", with(func(in *imagebuilder.CreateContainerRecipeInput) {
			in.PlatformOverride = types.PlatformWindows
		}), "InvalidRequestException", "recipe's platform is Windows"},
		{"missing required parameter", with(func(in *imagebuilder.CreateContainerRecipeInput) {
			in.Components[0].Parameters = nil
		}), "InvalidParameterValueException", "Target"},
		{"unknown component", with(func(in *imagebuilder.CreateContainerRecipeInput) {
			in.Components[0].ComponentArn = aws.String(versionARN(hello, "9.x.x"))
		}), "ResourceNotFoundException", "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateContainerRecipe(ctx, tc.in)
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not mention %q", err, tc.msg)
			}
		})
	}
	list, err := c.ListContainerRecipes(ctx, &imagebuilder.ListContainerRecipesInput{})
	if err != nil || len(list.ContainerRecipeSummaryList) != 0 {
		t.Errorf("failed creates left recipes: %+v, %v", list, err)
	}
	for _, parent := range []string{"debian", "localhost:5000/team/app:v1.2", "registry.example.com/a/b@sha256:" + strings.Repeat("ab", 32), "ami-0123456789abcdef0"} {
		in := containerRecipeInput("parent-"+fmt.Sprint(len(parent)), "1.0.0", hello)
		in.ParentImage = aws.String(parent)
		if _, err := c.CreateContainerRecipe(ctx, in); err != nil {
			t.Errorf("parentImage %q: %v", parent, err)
		}
	}
}

func TestRecipeSharingAndPolicies(t *testing.T) {
	t.Parallel()
	credFile, alice, bob := writeCredentials(t)
	srv := kilntest.Start(t, "--credentials", credFile)
	a, b := srv.Client(alice), srv.Client(bob)
	ctx := kilntest.Context(t)
	hello := createHello(t, a, "shared-hello", "1.0.0")
	recipe, err := a.CreateImageRecipe(ctx, simpleRecipe("shared", "1.0.0", hello))
	if err != nil {
		t.Fatal(err)
	}
	container, err := a.CreateContainerRecipe(ctx, containerRecipeInput("shared-c", "1.0.0", hello))
	if err != nil {
		t.Fatal(err)
	}

	_, err = b.GetImageRecipe(ctx, &imagebuilder.GetImageRecipeInput{ImageRecipeArn: recipe.ImageRecipeArn})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = a.GetImageRecipePolicy(ctx, &imagebuilder.GetImageRecipePolicyInput{ImageRecipeArn: recipe.ImageRecipeArn})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = a.PutImageRecipePolicy(ctx, &imagebuilder.PutImageRecipePolicyInput{ImageRecipeArn: recipe.ImageRecipeArn, Policy: aws.String("{}")})
	wantCode(t, err, "InvalidParameterValueException")

	// Get* lets bob read and use a resource; List* lists it under owner
	// Shared.
	grant := func(arn string, actions ...string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["222222222222"]},"Action":["imagebuilder:` + strings.Join(actions, `","imagebuilder:`) + `"],"Resource":["` + arn + `"]}]}`
	}
	policy := grant(aws.ToString(recipe.ImageRecipeArn), "GetImageRecipe", "ListImageRecipes")
	_, err = b.PutImageRecipePolicy(ctx, &imagebuilder.PutImageRecipePolicyInput{ImageRecipeArn: recipe.ImageRecipeArn, Policy: aws.String(policy)})
	wantCode(t, err, "ResourceNotFoundException")
	if _, err := a.PutImageRecipePolicy(ctx, &imagebuilder.PutImageRecipePolicyInput{ImageRecipeArn: recipe.ImageRecipeArn, Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if got, err := a.GetImageRecipePolicy(ctx, &imagebuilder.GetImageRecipePolicyInput{ImageRecipeArn: recipe.ImageRecipeArn}); err != nil || aws.ToString(got.Policy) != policy {
		t.Errorf("GetImageRecipePolicy = %v, %v", got, err)
	}
	cpolicy := grant(aws.ToString(container.ContainerRecipeArn), "GetContainerRecipe", "ListContainerRecipes")
	if _, err := a.PutContainerRecipePolicy(ctx, &imagebuilder.PutContainerRecipePolicyInput{ContainerRecipeArn: container.ContainerRecipeArn, Policy: aws.String(cpolicy)}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.GetContainerRecipePolicy(ctx, &imagebuilder.GetContainerRecipePolicyInput{ContainerRecipeArn: container.ContainerRecipeArn}); err != nil || aws.ToString(got.Policy) != cpolicy {
		t.Errorf("GetContainerRecipePolicy = %v, %v", got, err)
	}

	shared, err := b.ListImageRecipes(ctx, &imagebuilder.ListImageRecipesInput{Owner: types.OwnershipShared})
	if err != nil || len(shared.ImageRecipeSummaryList) != 1 || aws.ToString(shared.ImageRecipeSummaryList[0].Owner) != "111111111111" {
		t.Fatalf("bob's Shared recipes = %+v, %v", shared, err)
	}
	sharedC, err := b.ListContainerRecipes(ctx, &imagebuilder.ListContainerRecipesInput{Owner: types.OwnershipShared})
	if err != nil || len(sharedC.ContainerRecipeSummaryList) != 1 {
		t.Fatalf("bob's Shared container recipes = %+v, %v", sharedC, err)
	}
	if own, err := b.ListImageRecipes(ctx, &imagebuilder.ListImageRecipesInput{}); err != nil || len(own.ImageRecipeSummaryList) != 0 {
		t.Errorf("bob's Self recipes = %+v, %v", own, err)
	}
	got, err := b.GetImageRecipe(ctx, &imagebuilder.GetImageRecipeInput{ImageRecipeArn: recipe.ImageRecipeArn})
	if err != nil || aws.ToString(got.ImageRecipe.Owner) != "111111111111" {
		t.Errorf("bob reads the shared recipe: %+v, %v", got, err)
	}
	_, err = b.DeleteImageRecipe(ctx, &imagebuilder.DeleteImageRecipeInput{ImageRecipeArn: recipe.ImageRecipeArn})
	wantCode(t, err, "ForbiddenException")
	_, err = b.DeleteContainerRecipe(ctx, &imagebuilder.DeleteContainerRecipeInput{ContainerRecipeArn: container.ContainerRecipeArn})
	wantCode(t, err, "ForbiddenException")

	// Bob may build on alice's component once she shares it.
	_, err = b.CreateImageRecipe(ctx, simpleRecipe("bobs", "1.0.0", hello))
	wantCode(t, err, "ResourceNotFoundException")
	if _, err := a.PutComponentPolicy(ctx, &imagebuilder.PutComponentPolicyInput{ComponentArn: aws.String(hello), Policy: aws.String(grant(hello, "GetComponent"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateImageRecipe(ctx, simpleRecipe("bobs", "1.0.0", hello)); err != nil {
		t.Errorf("recipe on a shared component: %v", err)
	}
}

func TestRecipeListFiltersAndPagination(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	hello := createHello(t, c, "hello", "1.0.0")
	var want []string
	for i := range 4 {
		for _, v := range []string{"1.0.0", "1.10.0", "1.2.0"} {
			in := simpleRecipe(fmt.Sprintf("list-%d", i), v, hello)
			if i == 3 {
				in.ParentImage = aws.String("ami-0123456789abcdef0")
			}
			out, err := c.CreateImageRecipe(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, aws.ToString(out.ImageRecipeArn))
		}
	}
	// Sorted by name, then numerically by version.
	for i := 0; i < len(want); i += 3 {
		want[i+1], want[i+2] = want[i+2], want[i+1]
	}
	var got []string
	pages := allPages(t, ctx, imagebuilder.NewListImageRecipesPaginator(c, &imagebuilder.ListImageRecipesInput{MaxResults: aws.Int32(5)}))
	for _, page := range pages {
		for _, s := range page.ImageRecipeSummaryList {
			got = append(got, aws.ToString(s.Arn))
		}
	}
	sameValue(t, "paged arns", got, want)
	if len(pages) != 3 {
		t.Errorf("%d pages, want 3", len(pages))
	}

	count := func(filters ...types.Filter) int {
		t.Helper()
		out, err := c.ListImageRecipes(ctx, &imagebuilder.ListImageRecipesInput{Filters: filters})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.ImageRecipeSummaryList)
	}
	f := func(name string, values ...string) types.Filter {
		return types.Filter{Name: aws.String(name), Values: values}
	}
	if n := count(f("name", "list-1", "list-2")); n != 6 {
		t.Errorf("name filter: %d", n)
	}
	if n := count(f("parentImage", "ami-0123456789abcdef0")); n != 3 {
		t.Errorf("parentImage filter: %d", n)
	}
	if n := count(f("platform", "Linux"), f("name", "list-0")); n != 3 {
		t.Errorf("platform+name filter: %d", n)
	}
	if n := count(f("platform", "Windows")); n != 0 {
		t.Errorf("platform Windows: %d", n)
	}
	_, err := c.ListImageRecipes(ctx, &imagebuilder.ListImageRecipesInput{Filters: []types.Filter{f("colour", "red")}})
	wantCode(t, err, "InvalidRequestException")
	_, err = c.ListImageRecipes(ctx, &imagebuilder.ListImageRecipesInput{NextToken: aws.String("forged")})
	wantCode(t, err, "InvalidPaginationTokenException")
	if amz, err := c.ListImageRecipes(ctx, &imagebuilder.ListImageRecipesInput{Owner: types.OwnershipAmazon}); err != nil || len(amz.ImageRecipeSummaryList) != 0 {
		t.Errorf("Amazon recipes = %+v, %v", amz, err)
	}
}

func TestAmazonParentImages(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	all, err := c.ListImages(ctx, &imagebuilder.ListImagesInput{Owner: types.OwnershipAmazon})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]types.ImageVersion{}
	for _, v := range all.ImageVersionList {
		names[aws.ToString(v.Name)] = v
	}
	al := names["amazon-linux-2023-x86"]
	if aws.ToString(al.Owner) != "Amazon" || al.Platform != types.PlatformLinux || aws.ToString(al.OsVersion) != "Amazon Linux 2023" ||
		al.Type != types.ImageTypeAmi || !strings.HasPrefix(aws.ToString(al.Arn), "arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-2023-x86/") ||
		al.ImageSource != types.ImageSourceAmazonManaged {
		t.Errorf("amazon-linux-2023-x86 = %+v", al)
	}
	for _, want := range []string{"amazon-linux-2-x86", "amazon-linux-2023-arm64", "ubuntu-server-22-lts-x86", "ubuntu-server-24-lts-x86", "debian-12-x86"} {
		if _, ok := names[want]; !ok {
			t.Errorf("%s missing from ListImages owner Amazon", want)
		}
	}
	if self, err := c.ListImages(ctx, &imagebuilder.ListImagesInput{}); err != nil || len(self.ImageVersionList) != 0 {
		t.Errorf("Self images = %+v, %v", self, err)
	}
	ubuntu, err := c.ListImages(ctx, &imagebuilder.ListImagesInput{Owner: types.OwnershipAmazon, ByName: true,
		Filters: []types.Filter{{Name: aws.String("osVersion"), Values: []string{"Ubuntu 22", "Ubuntu 24"}}, {Name: aws.String("type"), Values: []string{"AMI"}}}})
	if err != nil || len(ubuntu.ImageVersionList) != 4 {
		t.Errorf("Ubuntu images = %+v, %v", ubuntu, err)
	}
	_, err = c.ListImages(ctx, &imagebuilder.ListImagesInput{Owner: types.OwnershipAmazon, ByName: true,
		Filters: []types.Filter{{Name: aws.String("version"), Values: []string{"1.0.0"}}}})
	wantCode(t, err, "InvalidRequestException")

	img, err := c.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(amazonLinux2023)})
	if err != nil {
		t.Fatal(err)
	}
	if img.Image.State == nil || img.Image.State.Status != types.ImageStatusAvailable || aws.ToString(img.Image.OsVersion) != "Amazon Linux 2023" ||
		!strings.HasSuffix(aws.ToString(img.Image.Arn), "/1") {
		t.Errorf("GetImage = %+v", img.Image)
	}
	versionArn := strings.TrimSuffix(aws.ToString(img.Image.Arn), "/1")
	builds, err := c.ListImageBuildVersions(ctx, &imagebuilder.ListImageBuildVersionsInput{ImageVersionArn: aws.String(versionArn)})
	if err != nil || len(builds.ImageSummaryList) != 1 || aws.ToString(builds.ImageSummaryList[0].Arn) != aws.ToString(img.Image.Arn) ||
		aws.ToString(builds.ImageSummaryList[0].Owner) != "Amazon" {
		t.Errorf("ListImageBuildVersions = %+v, %v", builds, err)
	}
	_, err = c.ListImageBuildVersions(ctx, &imagebuilder.ListImageBuildVersionsInput{ImageVersionArn: aws.String(versionArn),
		Filters: []types.Filter{{Name: aws.String("bogus"), Values: []string{"x"}}}})
	wantCode(t, err, "InvalidRequestException")
	_, err = c.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String("arn:aws:imagebuilder:us-east-1:aws:image/no-such-image/x.x.x")})
	wantCode(t, err, "ResourceNotFoundException")

	// An Amazon-owned image's OS version is what components'
	// supportedOsVersions are matched against.
	comp, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("al-only"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		SupportedOsVersions: []string{"Amazon Linux"}, Data: aws.String(testOnlyDoc),
	})
	if err != nil {
		t.Fatal(err)
	}
	in := &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("al-recipe"), SemanticVersion: aws.String("1.0.0"), ParentImage: aws.String(amazonLinux2023),
		Components: []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
	}
	if _, err := c.CreateImageRecipe(ctx, in); err != nil {
		t.Errorf("recipe on amazon-linux-2023-x86: %v", err)
	}
	in.ClientToken = nil // the SDK filled in the first call's token
	in.Name, in.ParentImage = aws.String("ubuntu-recipe"), aws.String("arn:aws:imagebuilder:us-east-1:aws:image/ubuntu-server-24-lts-x86/x.x.x")
	_, err = c.CreateImageRecipe(ctx, in)
	wantCode(t, err, "InvalidRequestException")
}

// TestRecipeUsedByPipeline checks a recipe an image pipeline uses cannot
// be deleted. Pipelines come from another part of the service; the test
// skips while they are not implemented.
func TestRecipeUsedByPipeline(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	hello := createHello(t, c, "hello", "1.0.0")
	recipe, err := c.CreateImageRecipe(ctx, simpleRecipe("piped", "1.0.0", hello))
	if err != nil {
		t.Fatal(err)
	}
	container, err := c.CreateContainerRecipe(ctx, containerRecipeInput("piped-c", "1.0.0", hello))
	if err != nil {
		t.Fatal(err)
	}
	infra, err := c.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("p"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var pipes []*string
	for i, in := range []*imagebuilder.CreateImagePipelineInput{
		{ImageRecipeArn: recipe.ImageRecipeArn},
		{ContainerRecipeArn: container.ContainerRecipeArn},
	} {
		in.Name = aws.String(fmt.Sprintf("pipe-%d", i))
		in.InfrastructureConfigurationArn = infra.InfrastructureConfigurationArn
		out, err := c.CreateImagePipeline(ctx, in)
		if err != nil {
			if strings.Contains(err.Error(), "does not support the operation") {
				t.Skip("image pipelines are not implemented yet: ", err)
			}
			t.Fatal(err)
		}
		pipes = append(pipes, out.ImagePipelineArn)
	}
	_, err = c.DeleteImageRecipe(ctx, &imagebuilder.DeleteImageRecipeInput{ImageRecipeArn: recipe.ImageRecipeArn})
	wantCode(t, err, "ResourceDependencyException")
	_, err = c.DeleteContainerRecipe(ctx, &imagebuilder.DeleteContainerRecipeInput{ContainerRecipeArn: container.ContainerRecipeArn})
	wantCode(t, err, "ResourceDependencyException")
	for _, p := range pipes {
		if _, err := c.DeleteImagePipeline(ctx, &imagebuilder.DeleteImagePipelineInput{ImagePipelineArn: p}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteImageRecipe(ctx, &imagebuilder.DeleteImageRecipeInput{ImageRecipeArn: recipe.ImageRecipeArn}); err != nil {
		t.Errorf("delete after the pipeline is gone: %v", err)
	}
	if _, err := c.DeleteContainerRecipe(ctx, &imagebuilder.DeleteContainerRecipeInput{ContainerRecipeArn: container.ContainerRecipeArn}); err != nil {
		t.Errorf("delete after the pipeline is gone: %v", err)
	}
}

// TestRecipesAWSCLISmoke runs test/smoke/cli_recipes.sh: Debian's AWS CLI
// (its own model knows recipes and images) against kiln.
func TestRecipesAWSCLISmoke(t *testing.T) {
	t.Parallel()
	runCLISmoke(t, "cli_recipes.sh", false)
}

// TestRecipesBoto3Smoke runs test/smoke/boto3_recipes.py: Debian's boto3.
func TestRecipesBoto3Smoke(t *testing.T) {
	t.Parallel()
	runBoto3Smoke(t, "boto3_recipes.py", false)
}
