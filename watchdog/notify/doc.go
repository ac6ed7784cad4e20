// Package notify delivers events to notification sinks: webhooks and chat
// or e-mail services. It holds what a sink is (a name, a URL and a filter),
// how its secrets are masked, and the Sender: the daemon's task that drains
// the durable outbox (rows queued in the registry in the same transaction
// that stores each event), each sink in order and on its own goroutine, with
// retries and backoff, burst folding and a 24-hour give-up.
//
// The decisions (send one, fold a burst into a summary, wait, drop) are the
// pure functions in plan.go; the Sender only carries them out. Delivery
// itself sits behind Transport: watchdog/notify/webhook for http(s) URLs and
// watchdog/notify/chat for shoutrrr service URLs.
package notify
