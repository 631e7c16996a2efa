// Command gen writes internal/awsapi's generated files (*_gen.go) from the
// EC2 Image Builder API model. `go generate ./internal/awsapi` runs it in
// that directory.
//
// # The model
//
// The source of truth is the api-2.json of the Image Builder service in the
// aws-sdk-go v1.55.7 module (2019-12-02, 73 operations). The generator asks
// the go command for the module (`go mod download -json`, run outside kiln's
// module so go.mod and go.sum are left alone) instead of vendoring the file;
// -model points it at a file instead.
//
// # The overlay
//
// The v1 model is frozen, and the current aws-sdk-go-v2 client
// (service/imagebuilder v1.55.2) knows more. gen/overlay.json, written in
// api-2.json's own format, adds what kiln needs of the difference, read off
// that client's serializers, deserializers, validators and types:
//
//   - operations RetryImage, DistributeImage, ImportDiskImage and
//     GetMarketplaceResource with their shapes (the v2 client carries no
//     length or pattern constraints, so their members reuse the model's
//     existing shapes where one fits: ClientToken, VersionNumber,
//     RoleNameOrArn, TagMap, ...);
//   - error shapes DryRunOperationException (412), AccessDeniedException (403)
//     and TooManyRequestsException (429), the last two with the statuses
//     AWS documents for them, as the v2 client only knows their names;
//   - dryRun on CreateComponentRequest and CreateWorkflowRequest (the v2
//     client has it on those two only, not on CreateImageRecipe), with
//     DryRunOperationException added to those operations' errors;
//   - latestVersionReferences on the ten Create/Get outputs that carry it
//     in the v2 client (components, container and image recipes, images,
//     workflows);
//   - the members the v2 client sends or returns so that "Get returns what
//     Create was given" holds for them: placement (TenancyType
//     default|dedicated|host) on infrastructure configurations and their
//     summaries, distributions[].ssmParameterConfigurations
//     (SsmParameterDataType text|aws:ec2:image; parameter names 1–1011 of
//     [\w.\-/] as the current reference says), amiTags on image recipes,
//     imageTags, loggingConfiguration and schedule.autoDisablePolicy
//     (failureCount 1–10) on pipelines with the outputs lastRunStatus and
//     consecutiveFailures, loggingConfiguration on CreateImage,
//     ImportVmImage, Image and ImageSummary, and tags on
//     StartImagePipelineExecution;
//   - lifecycle policy recipe selections accept `x` wildcards in
//     semanticVersion (x.x.x, 1.x.x, 1.0.x), as the current reference
//     documents; the v1 model types the member VersionNumber, which has
//     none;
//   - GetMarketplaceResource's resourceArn is an ImageBuilderArn and its
//     resourceLocation may be empty (0–1024), as in the current Smithy
//     model; ClientToken keeps the v1 model's 1–36, which the current
//     model and API reference still say;
//   - the enum values the v2 client added to enums requests use: Platform
//     macOS, Ownership AWSMarketplace, BuildType IMPORT_ISO, ComponentStatus
//     ACTIVE and DISABLED; otherwise validation would refuse what a current
//     client sends.
//
// Merge rules: an overlay operation or shape that the model lacks is added.
// One the model has is merged key by key: a key in the overlay replaces the
// model's, except that "members" merge member by member (new members go
// last), and "enum", "required" and an operation's "errors" are unions
// (overlay entries appended). Operations that come from the overlay have
// InV1Model false.
//
// # Patterns
//
// The model's patterns are Java regular expressions. They are applied to the
// whole value (the generated code anchors them as ^(?:pattern)$), which is
// how the service behaves. Two constructs RE2 lacks are translated:
//
//   - a leading negative lookahead ^(?!X) (TagKey's ^(?!aws:)...) becomes a
//     separate "reject" expression ^(?:X): a value matching it fails;
//   - a counted repeat of a bracket class above RE2's limit of 1000
//     ([...]{1,1024} in FilterName and FilterValue) is split into two
//     repeats of the same class ({1,1000} then {0,24}), which accepts the
//     same strings.
//
// A pattern that still does not compile is skipped (the member is then not
// checked against it), reported on stderr, and listed in a comment at the
// top of validate_gen.go. With the v1.55.7 model there is none.
//
// # Output
//
// shapes_gen.go (structs), enums_gen.go, errors_gen.go, operations_gen.go
// (operation table and HTTP bindings), validate_gen.go (the Validate
// methods, and emptyRefused: the body paths, from every operation's input,
// to optional string members with a minimum length, which DecodeRequest
// reads to refuse "" there, since a Go string cannot tell "" from
// absent), and botocore_gen.json: the merged model itself in api-2.json form, which
// `kiln aws-model` gives to AWS CLIs and boto3s older than the operations
// kiln answers. Everything is
// emitted in sorted order and gofmt'ed, so the output is a pure function of
// the model and the overlay; gen_test.go checks the committed files against
// a fresh run.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", ".", "directory to write the generated files to")
	model := flag.String("model", "", "path of the Image Builder api-2.json (default: from "+modelModule+" via go mod download)")
	overlay := flag.String("overlay", filepath.Join("gen", "overlay.json"), "path of the overlay")
	flag.Parse()
	if err := run(*out, *model, *overlay); err != nil {
		fmt.Fprintln(os.Stderr, "awsapi/gen:", err)
		os.Exit(1)
	}
}

func run(out, model, overlay string) error {
	if model == "" {
		var err error
		if model, err = findModel(); err != nil {
			return err
		}
	}
	files, skipped, err := generate(model, overlay)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		fmt.Fprintf(os.Stderr, "awsapi/gen: pattern of %s not checked: %s\n", s.shape, s.reason)
	}
	for _, name := range sortedKeys(files) {
		if err := os.WriteFile(filepath.Join(out, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}
