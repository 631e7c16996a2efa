package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/schedule"
)

// everyMinute is the schedule of the pipelines whose ticks are measured.
const everyMinute = "cron(* * * * ? *)"

// pipelineSpec is one pipeline the benchmark creates.
type pipelineSpec struct {
	Name       string
	Expression string
	Zone       string
	Condition  types.PipelineExecutionStartCondition
	EveryMin   bool
	ARN        string // set once created
}

// workload is the benchmark's pipelines: the per-minute ones first.
type workload struct {
	rng   *rand.Rand
	zones []string
	specs []pipelineSpec
}

func newWorkload(seed int64, total, due int, zones []string) *workload {
	w := &workload{rng: rand.New(rand.NewPCG(uint64(seed), 0x5c4ed)), zones: zones}
	for i := range total {
		s := pipelineSpec{Name: fmt.Sprintf("sched-%05d", i), Zone: zones[w.rng.IntN(len(zones))], EveryMin: i < due}
		if w.rng.IntN(2) == 0 {
			s.Condition = types.PipelineExecutionStartConditionExpressionMatchOnly
		} else {
			s.Condition = types.PipelineExecutionStartConditionExpressionMatchAndDependencyUpdatesAvailable
		}
		if s.EveryMin {
			s.Expression = everyMinute
		}
		w.specs = append(w.specs, s)
	}
	return w
}

// pickQuiet gives every pipeline that is not a per-minute one a random
// expression that, by kiln's own cron engine, does not come due between
// now and quiet, so the only ticks in the run are the per-minute ones.
func (w *workload) pickQuiet(now, quiet time.Time) error {
	for i := range w.specs {
		s := &w.specs[i]
		if s.EveryMin {
			continue
		}
		loc, err := schedule.LoadZone(s.Zone)
		if err != nil {
			return err
		}
		for try := 0; ; try++ {
			if try == 1000 {
				return fmt.Errorf("no quiet schedule found for %s in %s", s.Name, s.Zone)
			}
			expr := randomExpression(w.rng)
			sch, err := schedule.Parse(expr)
			if err != nil {
				return fmt.Errorf("the generator made %q: %w", expr, err)
			}
			next, ok := sch.NextFrom(now, now, loc)
			if ok && next.After(quiet) {
				s.Expression = expr
				break
			}
		}
	}
	return nil
}

// randomExpression is a cron or rate expression of the kinds users write:
// daily, weekly, monthly, on working days, every few hours, with ranges,
// lists, steps and the day specials (L, W, #).
func randomExpression(r *rand.Rand) string {
	pick := func(options ...string) string { return options[r.IntN(len(options))] }
	if r.IntN(10) == 0 {
		return pick(
			fmt.Sprintf("rate(%d hours)", 2+r.IntN(22)),
			fmt.Sprintf("rate(%d days)", 2+r.IntN(13)),
			"rate(1 day)", "rate(1 hour)",
		)
	}
	minute := pick(fmt.Sprint(r.IntN(60)), fmt.Sprint(r.IntN(60)), "0", "0,30", "15,45", fmt.Sprintf("%d/20", r.IntN(20)))
	hour := pick(fmt.Sprint(r.IntN(24)), fmt.Sprint(r.IntN(24)), fmt.Sprintf("%d/6", r.IntN(6)), "9-17", "0,12", "22-2")
	dom, dow := "*", "?"
	switch r.IntN(5) {
	case 1:
		dom = fmt.Sprint(1 + r.IntN(28))
	case 2:
		dom = pick("L", "LW", "15W", "1,15", "L-3")
	case 3:
		dom, dow = "?", pick("MON-FRI", "SUN", "SAT,SUN", fmt.Sprint(1+r.IntN(7)))
	case 4:
		dom, dow = "?", pick("2#1", "6L", "sat#2,4", "MON#3")
	}
	month := pick("*", "*", "*", fmt.Sprint(1+r.IntN(12)), "JAN-JUN", "NOV-FEB", "*/3")
	return fmt.Sprintf("cron(%s %s %s %s %s *)", minute, hour, dom, month, dow)
}

// zoneNames lists the IANA zones of the system's zone1970.tab, or a fixed
// sample when it is missing. Either way it includes zones with
// half-hour and 45-minute offsets and zones with DST.
func zoneNames() []string {
	fallback := []string{
		"UTC", "Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles",
		"America/St_Johns", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide", "Australia/Eucla",
		"Pacific/Chatham", "Asia/Tokyo", "America/Sao_Paulo", "Africa/Cairo", "Pacific/Kiritimati",
	}
	f, err := os.Open("/usr/share/zoneinfo/zone1970.tab")
	if err != nil {
		return fallback
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) >= 3 {
			if _, err := schedule.LoadZone(fields[2]); err == nil {
				out = append(out, fields[2])
			}
		}
	}
	if len(out) < len(fallback) {
		return fallback
	}
	return out
}

func (w *workload) zoneCount() int {
	seen := map[string]bool{}
	for _, s := range w.specs {
		seen[s.Zone] = true
	}
	return len(seen)
}

// rareKinds counts the quiet pipelines' expressions by kind.
func (w *workload) rareKinds() map[string]int {
	out := map[string]int{}
	for _, s := range w.specs {
		switch {
		case s.EveryMin:
		case strings.HasPrefix(s.Expression, "rate("):
			out["rate"]++
		case strings.Contains(s.Expression, "#") || strings.Contains(s.Expression, "L") || strings.Contains(s.Expression, "W"):
			out["cron with L, W or #"]++
		default:
			out["cron"]++
		}
	}
	return out
}

// duePipelines are the per-minute pipelines' ARNs, by name.
func (w *workload) duePipelines() map[string]string {
	out := map[string]string{}
	for _, s := range w.specs {
		if s.EveryMin {
			out[s.ARN] = s.Name
		}
	}
	return out
}

// create makes the shared resources and every pipeline, conc at a time,
// quiet ones first so that the per-minute ones start ticking last.
// Every recipe's parent image is in registry, which never answers.
func (w *workload) create(ctx context.Context, c *imagebuilder.Client, registry string, conc int, progress func(done int)) error {
	comp, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("bench-noop"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String("name: noop\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Noop\n        action: ExecuteBash\n        inputs:\n          commands:\n            - 'true'\n"),
	})
	if err != nil {
		return fmt.Errorf("CreateComponent: %w", err)
	}
	infra, err := c.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("bench-infra"), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		return fmt.Errorf("CreateInfrastructureConfiguration: %w", err)
	}
	// A few recipes, so pipelines do not all share one.
	var recipes []string
	for i := range 10 {
		out, err := c.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
			Name: aws.String(fmt.Sprintf("bench-recipe-%d", i)), SemanticVersion: aws.String("1.0.0"),
			ContainerType: types.ContainerTypeDocker, ParentImage: aws.String(registry + "/never/answers:latest"),
			Components:             []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
			DockerfileTemplateData: aws.String("FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"),
			TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr,
				RepositoryName: aws.String(fmt.Sprintf("bench/recipe-%d", i))},
		})
		if err != nil {
			return fmt.Errorf("CreateContainerRecipe: %w", err)
		}
		recipes = append(recipes, *out.ContainerRecipeArn)
	}

	order := make([]int, len(w.specs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return !w.specs[order[a]].EveryMin && w.specs[order[b]].EveryMin })
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
		errOnce    sync.Once
		firstErr   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				k := int(next.Add(1)) - 1
				if k >= len(order) {
					return
				}
				s := &w.specs[order[k]]
				out, err := c.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
					Name: aws.String(s.Name), ContainerRecipeArn: aws.String(recipes[order[k]%len(recipes)]),
					InfrastructureConfigurationArn: infra.InfrastructureConfigurationArn,
					ImageTestsConfiguration:        &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
					Status:                         types.PipelineStatusEnabled,
					Schedule: &types.Schedule{ScheduleExpression: aws.String(s.Expression), Timezone: aws.String(s.Zone),
						PipelineExecutionStartCondition: s.Condition},
				})
				if err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("CreateImagePipeline %s (%s in %s): %w", s.Name, s.Expression, s.Zone, err)
						cancel()
					})
					return
				}
				s.ARN = *out.ImagePipelineArn
				if n := done.Add(1); progress != nil {
					progress(int(n))
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
