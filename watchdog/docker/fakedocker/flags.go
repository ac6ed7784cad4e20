package fakedocker

import (
	"fmt"
	"strconv"
	"strings"
)

// flagSpec describes one flag; names[0] is the canonical name used as key.
type flagSpec struct {
	names []string
	value bool
}

func boolFlag(names ...string) flagSpec { return flagSpec{names: names} }
func valFlag(names ...string) flagSpec  { return flagSpec{names: names, value: true} }

type parsedFlags struct {
	bools map[string]bool
	vals  map[string][]string
	args  []string
}

func (p *parsedFlags) has(name string) bool { return p.bools[name] }

// str returns the last value given, as pflag does for repeated string flags.
func (p *parsedFlags) str(name string) string {
	v := p.vals[name]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func (p *parsedFlags) isSet(name string) bool { return len(p.vals[name]) > 0 }

// parseFlags mimics pflag closely enough for docker's usage: "--f v",
// "--f=v", "-f v", "-fv", "-f=v" and clustered short booleans ("-aq").
// With interspersed false, parsing stops at the first positional argument
// (docker run: everything after the image is the container command).
func parseFlags(specs []flagSpec, args []string, interspersed bool) (*parsedFlags, error) {
	byName := map[string]*flagSpec{}
	for i := range specs {
		for _, n := range specs[i].names {
			byName[n] = &specs[i]
		}
	}
	p := &parsedFlags{bools: map[string]bool{}, vals: map[string][]string{}}
	set := func(s *flagSpec, val string, hasVal bool, shown string) error {
		canon := s.names[0]
		if s.value {
			p.vals[canon] = append(p.vals[canon], val)
			return nil
		}
		if !hasVal {
			p.bools[canon] = true
			return nil
		}
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("invalid argument %q for %q flag: %v", val, shown, err)
		}
		p.bools[canon] = b
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			p.args = append(p.args, args[i+1:]...)
			return p, nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			s := byName[name]
			if s == nil || len(name) < 2 {
				return nil, fmt.Errorf("unknown flag: --%s", name)
			}
			if s.value && !hasVal {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("flag needs an argument: --%s", name)
				}
				i++
				val, hasVal = args[i], true
			}
			if err := set(s, val, hasVal, "--"+name); err != nil {
				return nil, err
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				ch := a[j : j+1]
				s := byName[ch]
				if s == nil {
					return nil, fmt.Errorf("unknown flag: -%s (in %s)", ch, a)
				}
				if !s.value {
					if err := set(s, "", false, "-"+ch); err != nil {
						return nil, err
					}
					continue
				}
				val := strings.TrimPrefix(a[j+1:], "=")
				if val == "" && j+1 == len(a) {
					if i+1 >= len(args) {
						return nil, fmt.Errorf("flag needs an argument: '%s' in -%s", ch, ch)
					}
					i++
					val = args[i]
				}
				if err := set(s, val, true, "-"+ch); err != nil {
					return nil, err
				}
				break
			}
		default:
			if !interspersed {
				p.args = append(p.args, args[i:]...)
				return p, nil
			}
			p.args = append(p.args, a)
		}
	}
	return p, nil
}
