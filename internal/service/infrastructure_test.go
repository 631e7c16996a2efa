package service

import (
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
)

func TestCheckPlacement(t *testing.T) {
	if err := checkPlacement(&awsapi.Placement{Tenancy: "host", HostId: "h-0123"}); err != nil {
		t.Errorf("host id: %v", err)
	}
	err := checkPlacement(&awsapi.Placement{Tenancy: "host", HostId: "h-0123", HostResourceGroupArn: "arn:aws:resource-groups:us-east-1:111122223333:group/g"})
	if configErrCode(err) != "InvalidRequestException" {
		t.Errorf("both host targets: %v", err)
	}
}

func TestTerminateOnFailureDefault(t *testing.T) {
	if got := terminateOnFailure(nil); got == nil || !*got {
		t.Errorf("terminateOnFailure(nil) = %v, want true", got)
	}
	if got := terminateOnFailure(ptr(false)); *got {
		t.Errorf("terminateOnFailure(false) = true")
	}
}
