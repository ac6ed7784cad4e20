package notify

import "testing"

// A URL that does not parse shows its scheme when it has one; text before
// "://" that is empty or holds a path, user or query is not a scheme, and
// all is masked.
func TestMaskURLOfUnparsableURLs(t *testing.T) {
	for in, want := range map[string]string{
		"://token@host/x":      mask,
		"ntfy ://host/secret":  "ntfy ://" + mask,
		"a/b://host/secret":    mask,
		"user@x://host/secret": mask,
	} {
		if got := MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
}
