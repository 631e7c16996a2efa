package service

import (
	"context"

	"github.com/kiln-build/kiln/internal/awsapi"
)

func (s *Service) marketplaceHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpGetMarketplaceResource: handle(s.GetMarketplaceResource),
	}
}

// GetMarketplaceResource hands out the data or artifact of a component
// bought through AWS Marketplace. kiln has no marketplace: no component
// it knows is a Marketplace product, so every request is refused, with
// InvalidRequestException ("an action the service doesn't support"),
// which the operation declares, and a message that says why. The input is
// validated first, so a malformed request still gets the member named.
func (s *Service) GetMarketplaceResource(ctx context.Context, account string, in *awsapi.GetMarketplaceResourceRequest) (*awsapi.GetMarketplaceResourceResponse, error) {
	return nil, invalidRequest("kiln has no AWS Marketplace: '%s' is not a Marketplace product here, so its %s cannot be fetched. kiln serves only its own components and their data (GetComponent).",
		in.ResourceArn, in.ResourceType)
}
