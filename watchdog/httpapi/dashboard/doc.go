// Package dashboard is the operator's page at GET /: plain HTML, CSS and
// one small ES module, embedded in the binary so it works with no internet
// and no build step. The page reads /state, follows /events with
// EventSource (resuming after a drop with Last-Event-ID) and polls /state
// and /healthz for the tick; it never reloads.
//
// Every response carries a strict Content-Security-Policy: nothing but this
// server's own files may load, no inline script or style runs, and no other
// site may frame the page.
package dashboard
