package sigv4

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
)

// TestRealClient drives the Image Builder client of aws-sdk-go-v2 against a
// strict verifier, covering the operations whose paths and queries are the
// hardest to canonicalise: the /tags/{arn} trio and a GET with an ARN in the
// query.
func TestRealClient(t *testing.T) {
	v := testVerifier(ModeStrict)
	v.Now = time.Now // the client signs with the wall clock
	s := newServer(t, v)
	client := imagebuilder.New(imagebuilder.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      aws.NewCredentialsCache(staticCredentials{}),
		RetryMaxAttempts: 1,
	})
	const arn = "arn:aws:imagebuilder:us-east-1:111122223333:component/hello-world/1.0.0/1"
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"TagResource", func() error {
			_, err := client.TagResource(ctx, &imagebuilder.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"team": "a b/c"}})
			return err
		}},
		{"UntagResource", func() error {
			_, err := client.UntagResource(ctx, &imagebuilder.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"team", "a/b", "c d", "team2"}})
			return err
		}},
		{"ListTagsForResource", func() error {
			_, err := client.ListTagsForResource(ctx, &imagebuilder.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
			return err
		}},
		{"GetComponent", func() error {
			_, err := client.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: aws.String(arn)})
			return err
		}},
		{"ListImages", func() error {
			_, err := client.ListImages(ctx, &imagebuilder.ListImagesInput{MaxResults: aws.Int32(5)})
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); err != nil {
				t.Fatalf("call failed: %v", err)
			}
			res := <-s.results
			if res.err != nil {
				t.Fatalf("Verify = %v", res.err)
			}
			if res.caller.Account != testAccount {
				t.Errorf("Caller = %+v", res.caller)
			}
		})
	}
}

type staticCredentials struct{}

func (staticCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: "session-token"}, nil
}
