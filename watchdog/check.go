package watchdog

import (
	"context"
	"fmt"
	"time"
)

// CheckResult says how a targeted check went.
type CheckResult string

// A check either judged its container or left it to the next tick.
const (
	// CheckJudged: one docker call about the container, judged as a tick
	// judges it.
	CheckJudged CheckResult = "judged"
	// CheckUnregistered: not a registered instance (an orphan, or one
	// the registry dropped); only a tick's listing judges those.
	CheckUnregistered CheckResult = "unregistered"
	// CheckFailed: the registry or docker could not be read.
	CheckFailed CheckResult = "failed"
	// CheckPresent: a died container docker still has (CheckGone):
	// judging it is a tick's.
	CheckPresent CheckResult = "present"
	// CheckRemoving: a died container docker is removing (CheckGone):
	// the destroy that follows brings a check.
	CheckRemoving CheckResult = "removing"
)

// CheckResults are every CheckResult.
var CheckResults = []CheckResult{CheckJudged, CheckUnregistered, CheckFailed, CheckPresent, CheckRemoving}

// CheckReport is one targeted check.
type CheckReport struct {
	Container string        `json:"container"`
	Result    CheckResult   `json:"result"`
	Started   time.Time     `json:"started"`
	Duration  time.Duration `json:"duration"`
	// Instance is the container as judged (when Result is judged).
	Instance InstanceState `json:"instance,omitzero"`
	// Events are the events the check stored and published.
	Events  []Event `json:"events,omitempty"`
	Repairs int     `json:"repairs"`
	Error   string  `json:"error,omitempty"`
}

// Check judges one container of this watchdog's with a single docker call
// about that name (Docker.Get), not a listing of all: docker said it was
// removed, and its loss is reported, and its repair started, without
// waiting for a tick, at a cost that does not grow with the fleet.
//
// It judges exactly as a tick does, through judgeInstance: the same rules,
// records, evidence, leases, holds, intents and pacing; and never while a
// tick looks. The tick stays the source of truth: a container Check
// cannot judge (not a registered instance, or the registry or docker
// failed; Result says which, and the error why) is the next tick's, and
// whatever Check misjudged the next tick's listing corrects.
func (w *Watcher) Check(ctx context.Context, name string) (CheckReport, error) {
	return w.checkName(ctx, name, false)
}

// CheckGone is Check for a container docker said died: when the same one
// call finds it gone, it is judged as Check judges it (docker rm -f's die
// came long before its destroy); when docker still has it, nothing is
// judged, and Result says present (a tick's to judge) or removing.
func (w *Watcher) CheckGone(ctx context.Context, name string) (CheckReport, error) {
	return w.checkName(ctx, name, true)
}

func (w *Watcher) checkName(ctx context.Context, name string, onlyGone bool) (CheckReport, error) {
	w.setup()
	w.looking.Lock()
	defer w.looking.Unlock()
	rep := CheckReport{Container: name, Started: w.Clock.Now(), Result: CheckJudged}
	err := w.check(ctx, &rep, onlyGone)
	if err != nil {
		rep.Result, rep.Error = CheckFailed, err.Error()
	}
	rep.Duration = w.Clock.Now().Sub(rep.Started)
	return rep, err
}

func (w *Watcher) check(ctx context.Context, rep *CheckReport, onlyGone bool) error {
	s, in, ok, err := w.surveyOne(ctx, rep.Container)
	if err != nil || !ok {
		rep.Result = CheckUnregistered
		return err
	}
	if c := s.seen[rep.Container]; onlyGone && c != nil {
		rep.Result = CheckPresent
		if c.State == "removing" {
			rep.Result = CheckRemoving
		}
		return nil
	}
	policy := Agent{}
	for _, a := range s.agents {
		if a.Name == in.Agent {
			policy = a
		}
	}
	tr := TickReport{}
	w.logMu.Lock()
	defer w.logMu.Unlock()
	defer func() { w.publish(tr.Events) }()
	rep.Instance = w.judgeInstance(ctx, &tr, &s, in, policy)
	rep.Events, rep.Repairs = tr.Events, tr.Repairs
	if tr.Error != "" {
		return fmt.Errorf("check %s: %s", rep.Container, tr.Error)
	}
	return nil
}

// surveyOne is survey for one container: the registry's agents, docker's
// view of that one name, and the registry's state as the ledger has it.
// ok is false when name is not a registered instance.
func (w *Watcher) surveyOne(ctx context.Context, name string) (s survey, in Instance, ok bool, err error) {
	if s.agents, err = w.ledger.agents(ctx, w.Registry); err != nil {
		return s, in, false, err
	}
	if in, ok = expectedNamed(w.Prefix, s.agents, name); !ok {
		return s, in, false, nil
	}
	s.listed = w.Clock.Now()
	c, err := w.Docker.Get(ctx, name)
	if err != nil {
		return s, in, false, fmt.Errorf("look up %s: %w", name, err)
	}
	// Read after looking, as a tick does: see survey.
	if s.snapshot, err = w.ledger.read(ctx, w.Registry, w.Clock.Now()); err != nil {
		return s, in, false, err
	}
	s.seen = map[string]*Container{}
	if c != nil {
		s.all = []Container{*c}
		s.seen[name] = &s.all[0]
	}
	return s, in, true, nil
}

// expectedNamed finds the expected instance whose container is name.
func expectedNamed(prefix string, agents []Agent, name string) (Instance, bool) {
	for _, in := range ExpectedInstances(agents) {
		if ContainerName(prefix, in.Agent, in.Instance) == name {
			return in, true
		}
	}
	return Instance{}, false
}
