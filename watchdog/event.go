package watchdog

import (
	"fmt"
	"time"
)

// EventType names what happened. The first four are the contract's.
type EventType string

const (
	EventStopped        EventType = "container_stopped"
	EventMissing        EventType = "container_missing"
	EventRecreated      EventType = "container_recreated"
	EventRecreateFailed EventType = "container_recreate_failed"
	// EventRunning reports that a stopped or missing container runs again
	// without the watchdog recreating it (the restart policy brought it back).
	EventRunning EventType = "container_running"
	// EventRestarted reports a container that died and was restarted by
	// docker's restart policy between two looks.
	EventRestarted EventType = "container_restarted"
	// EventOrphaned reports a managed container the registry does not know.
	EventOrphaned EventType = "container_orphaned"

	// Health: docker's health check said unhealthy, then healthy again.
	EventUnhealthy EventType = "container_unhealthy"
	EventHealthy   EventType = "container_healthy"
	// With --on-unhealthy restart: the watchdog ran `docker restart`.
	EventUnhealthyRestarted     EventType = "container_unhealthy_restarted"
	EventUnhealthyRestartFailed EventType = "container_unhealthy_restart_failed"
	// EventUnhealthyGaveUp: the restart limit was reached; the watchdog
	// leaves the container alone until it has been healthy again.
	EventUnhealthyGaveUp EventType = "container_unhealthy_gave_up"

	// Operator intent: a hold began, and ended (released or expired).
	EventHeld     EventType = "container_held"
	EventReleased EventType = "container_released"
)

// EventTypes lists every type, in a stable order.
func EventTypes() []EventType {
	return []EventType{EventStopped, EventMissing, EventRecreated, EventRecreateFailed, EventRunning, EventRestarted, EventOrphaned,
		EventUnhealthy, EventHealthy, EventUnhealthyRestarted, EventUnhealthyRestartFailed, EventUnhealthyGaveUp, EventHeld, EventReleased}
}

// Priority is the syslog priority journald gets for the type.
func (t EventType) Priority() int {
	switch t {
	case EventRecreateFailed, EventUnhealthyRestartFailed, EventUnhealthyGaveUp:
		return 3 // err
	case EventStopped, EventMissing, EventOrphaned, EventRestarted, EventUnhealthy:
		return 4 // warning
	case EventRecreated, EventUnhealthyRestarted, EventHeld, EventReleased:
		return 5 // notice
	default:
		return 6 // info
	}
}

// MessageID is the fixed journald MESSAGE_ID of the type (see units/container-watchdog.catalog).
func (t EventType) MessageID() string {
	switch t {
	case EventStopped:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b01"
	case EventMissing:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b02"
	case EventRecreated:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b03"
	case EventRecreateFailed:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b04"
	case EventRunning:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b05"
	case EventOrphaned:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b06"
	case EventRestarted:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b07"
	case EventUnhealthy:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b08"
	case EventHealthy:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b09"
	case EventUnhealthyRestarted:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b0a"
	case EventUnhealthyRestartFailed:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b0b"
	case EventUnhealthyGaveUp:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b0c"
	case EventHeld:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b0d"
	case EventReleased:
		return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b0e"
	}
	return "5b0a3f0c6f7e4b7f9a3c2d1e0f4a5b00"
}

// Event is one entry of the event log. Its JSON form is the contract's.
type Event struct {
	ID        int64     `json:"id"`
	Time      time.Time `json:"time"`
	Type      EventType `json:"type"`
	Container string    `json:"container"`
	Agent     string    `json:"agent"`
	Instance  string    `json:"instance"`
	Detail    string    `json:"detail"`
	// Evidence holds the recent docker lifecycle facts about the container
	// (exit code, kill signal, OOM), as extra journald fields.
	Evidence map[string]string `json:"evidence,omitempty"`
	// DockerTime is when docker itself saw what this event reports (the
	// lifecycle event's timeNano); zero when a listing found it. It feeds
	// the detection-delay metric and is not stored.
	DockerTime time.Time `json:"-"`
}

// Message is the one readable sentence journald shows.
func (e Event) Message() string {
	var s string
	switch e.Type {
	case EventStopped:
		s = fmt.Sprintf("Container %s stopped; leaving it to its restart policy", e.Container)
	case EventMissing:
		s = fmt.Sprintf("Container %s is missing; recreating it", e.Container)
	case EventRecreated:
		s = fmt.Sprintf("Container %s recreated", e.Container)
	case EventRecreateFailed:
		s = fmt.Sprintf("Container %s could not be recreated", e.Container)
	case EventRunning:
		s = fmt.Sprintf("Container %s is running again", e.Container)
	case EventRestarted:
		s = fmt.Sprintf("Container %s stopped and was restarted by docker", e.Container)
	case EventOrphaned:
		s = fmt.Sprintf("Container %s is managed but not in the registry; leaving it alone", e.Container)
	case EventUnhealthy:
		s = fmt.Sprintf("Container %s is unhealthy", e.Container)
	case EventHealthy:
		s = fmt.Sprintf("Container %s is healthy again", e.Container)
	case EventUnhealthyRestarted:
		s = fmt.Sprintf("Container %s was unhealthy; restarted it", e.Container)
	case EventUnhealthyRestartFailed:
		s = fmt.Sprintf("Container %s is unhealthy and could not be restarted", e.Container)
	case EventUnhealthyGaveUp:
		s = fmt.Sprintf("Container %s stays unhealthy; no more restarts until it has been healthy again", e.Container)
	case EventHeld:
		s = fmt.Sprintf("Container %s is held: the watchdog leaves it alone", e.Container)
	case EventReleased:
		s = fmt.Sprintf("Container %s is released: the watchdog watches it again", e.Container)
	default:
		s = fmt.Sprintf("Container %s: %s", e.Container, e.Type)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}
