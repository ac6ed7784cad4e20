// Package webhook delivers notifications to http:// and https:// URLs: a
// POST of the event's JSON, signed with HMAC-SHA256 when the sink has a
// secret. It judges the answer for the sender: 2xx delivered; 4xx other
// than 408 and 429 permanent; anything else (including a redirect, which is
// never followed) retried, after the Retry-After the receiver asked for.
package webhook
