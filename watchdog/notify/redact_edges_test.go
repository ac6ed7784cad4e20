package notify

import (
	"strings"
	"testing"
)

// A secret of three characters is redacted (only shorter parts are left,
// as they would garble the text); a secret that a client quotes
// query-escaped is redacted in that form too.
func TestRedactShortAndEscapedSecrets(t *testing.T) {
	s := Sink{URL: "https://hooks.example.com/x9z?token=p%40ss%2Fw", Secret: "k3y"}
	text := "refused by hooks.example.com: key k3y, path x9z, token p@ss/w sent escaped as p%40ss%2Fw"
	got := s.Redact(text)
	for _, secret := range []string{"k3y", "x9z", "p@ss/w", "p%40ss%2Fw"} {
		if strings.Contains(got, secret) {
			t.Errorf("Redact left %q in %q", secret, got)
		}
	}
	if !strings.Contains(got, "hooks.example.com") {
		t.Errorf("Redact took the host too: %q", got)
	}
}
