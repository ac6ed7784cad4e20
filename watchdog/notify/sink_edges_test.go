package notify

import (
	"strings"
	"testing"
)

// The edges a sink may take: a 63-character name, journald priorities 0
// (emerg) to 7 (debug).
func TestSinkValidateAcceptsTheEdges(t *testing.T) {
	for _, s := range []Sink{
		{Name: strings.Repeat("a", 63), URL: "https://example.com/hook", MinPriority: 5},
		{Name: "a", URL: "https://example.com/hook", MinPriority: 0},
		{Name: "0-_", URL: "https://example.com/hook", MinPriority: 7},
	} {
		if err := s.Validate(); err != nil {
			t.Errorf("%q (priority %d) refused: %v", s.Name, s.MinPriority, err)
		}
	}
}
