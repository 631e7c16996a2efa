package workflow

import "time"

// Stage is the kind of workflow a document runs as: the WorkflowType of the
// API (BUILD, TEST, DISTRIBUTION).
type Stage string

// The stages, spelled as the API's WorkflowType enum.
const (
	StageBuild        Stage = "BUILD"
	StageTest         Stage = "TEST"
	StageDistribution Stage = "DISTRIBUTION"
)

// Action describes one step action a workflow step may name: where it may
// run, how long it may take, and the inputs it cannot do without.
type Action struct {
	Name string
	// Stages lists the workflow types that may use the action; nil means
	// every stage.
	Stages []Stage
	// DefaultTimeout applies when a step gives no timeoutSeconds;
	// MaxTimeout bounds the timeoutSeconds a step may give.
	DefaultTimeout time.Duration
	MaxTimeout     time.Duration
	// Rollback reports whether the action undoes itself when a later step
	// aborts the workflow.
	Rollback bool
	// Required lists input names a step must give (either literally or as
	// a JSONPath with the ".$" suffix).
	Required []string
}

const (
	minute = time.Minute
	hour   = time.Hour
	day    = 24 * time.Hour
)

// actions is the step action table (spec §11.3). The timeouts are Image
// Builder's documented defaults and maxima; the document-level rule of
// 1–86400 seconds is superseded by the per-action maxima, which is why
// CreateImage and WaitForAction allow more than a day (spec: UNSURE, the
// per-action figures are taken as authoritative).
var actions = map[string]Action{
	"LaunchInstance":                {DefaultTimeout: 75 * minute, MaxTimeout: 12 * hour, Rollback: true, Required: []string{"waitFor"}},
	"BootstrapInstanceForContainer": {DefaultTimeout: 60 * minute, MaxTimeout: 12 * hour},
	"ExecuteComponents":             {Stages: []Stage{StageBuild, StageTest}, DefaultTimeout: 720 * minute, MaxTimeout: 24 * hour},
	"CollectImageMetadata":          {Stages: []Stage{StageBuild}, DefaultTimeout: 30 * minute, MaxTimeout: 12 * hour, Rollback: true},
	"CollectImageScanFindings":      {Stages: []Stage{StageTest}, DefaultTimeout: 120 * minute, MaxTimeout: 12 * hour},
	"RunSysPrep":                    {DefaultTimeout: 60 * minute, MaxTimeout: 12 * hour},
	"SanitizeInstance":              {DefaultTimeout: 60 * minute, MaxTimeout: 12 * hour},
	"CreateImage":                   {DefaultTimeout: 720 * minute, MaxTimeout: 3 * day},
	"CreateImageFromIso":            {DefaultTimeout: 720 * minute, MaxTimeout: 12 * hour},
	"RegisterImage":                 {DefaultTimeout: 540 * minute, MaxTimeout: 12 * hour},
	"RunCommand":                    {DefaultTimeout: 720 * minute, MaxTimeout: 12 * hour, Required: []string{"documentName"}},
	"WaitForSSMAgent":               {DefaultTimeout: 60 * minute, MaxTimeout: 3 * hour},
	"WaitForAction":                 {DefaultTimeout: 3 * day, MaxTimeout: 7 * day},
	"ExecuteStateMachine":           {DefaultTimeout: 6 * hour, MaxTimeout: 24 * hour, Required: []string{"stateMachineArn"}},
	"TerminateInstance":             {DefaultTimeout: 30 * minute, MaxTimeout: 12 * hour},
	"DistributeImage":               {Stages: []Stage{StageDistribution}, DefaultTimeout: 360 * minute, MaxTimeout: 12 * hour},
	"ModifyImageAttributes":         {Stages: []Stage{StageDistribution}, DefaultTimeout: 120 * minute, MaxTimeout: 3 * hour, Required: []string{"distributedImages"}},
	"ApplyImageConfigurations":      {Stages: []Stage{StageDistribution}, DefaultTimeout: 360 * minute, MaxTimeout: 12 * hour, Required: []string{"distributedImages"}},
	"DistributeContainerImage":      {Stages: []Stage{StageDistribution}, DefaultTimeout: 120 * minute, MaxTimeout: 12 * hour},
}

func init() {
	for name, a := range actions {
		a.Name = name
		actions[name] = a
	}
}

// RunSysPrepRefusal is why a RunSysPrep step is refused, when the workflow
// is created and again should one reach a build: Sysprep generalises
// Windows installations, and kiln builds Linux images only.
const RunSysPrepRefusal = "RunSysPrep runs Windows Sysprep and works on Windows instances only; kiln builds Linux images, so a workflow cannot use it"

// LookupAction returns the action called name.
func LookupAction(name string) (Action, bool) {
	a, ok := actions[name]
	return a, ok
}

// allowedIn reports whether the action may run in a workflow of stage s.
func (a Action) allowedIn(s Stage) bool {
	if a.Stages == nil {
		return true
	}
	for _, t := range a.Stages {
		if t == s {
			return true
		}
	}
	return false
}

// amiDistributionActions cannot share a document with
// DistributeContainerImage: a distribution workflow distributes either
// machine images or container images.
var amiDistributionActions = []string{"DistributeImage", "ModifyImageAttributes", "ApplyImageConfigurations"}

// systemVariables are the names under $.imagebuilder that a document may
// read.
var systemVariables = map[string]bool{
	"cloudWatchLogGroup": true, "cloudWatchLogStream": true, "collectImageMetadata": true,
	"collectImageScanFindings": true, "imageBuildNumber": true, "imageId": true, "imageName": true,
	"imageType": true, "imageVersionNumber": true, "instanceProfileName": true, "platform": true,
	"s3Logs": true, "securityGroups": true, "sourceImageARN": true, "subnetId": true,
	"terminateInstanceOnFailure": true, "workflowPhase": true, "workingDirectory": true, "dateTime": true,
}
