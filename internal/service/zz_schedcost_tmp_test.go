package service

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
)

func TestTmpScheduledCost(t *testing.T) {
	clock := &runClock{now: time.Now()}
	s, _ := newRunTest(t, clock)
	for i := range 10000 {
		_, err := s.CreateImagePipeline(context.Background(), testAccount, &awsapi.CreateImagePipelineRequest{
			Name: fmt.Sprintf("p%05d", i), ContainerRecipeArn: "arn:aws:imagebuilder:us-east-1:111122223333:container-recipe/runs/x.x.x",
			InfrastructureConfigurationArn: testInfra, Schedule: &awsapi.Schedule{ScheduleExpression: "cron(0 3 ? * MON-FRI *)", Timezone: "Europe/Berlin"},
			ImageTags: map[string]string{"from": "pipeline"}, ClientToken: fmt.Sprint("c", i),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		start := time.Now()
		list, err := s.Scheduled(context.Background())
		t.Logf("Scheduled: %d in %s (%v)", len(list), time.Since(start), err)
	}
}
