package jmx

import "strings"

// RunCommand is the rolltest run command line that sends the plan's
// targets from file, bounded as the plan is, then a comment on rolling a
// workload. It lives here rather than in the CLI so that the golden
// tests of real plans pin the exact line `rolltest import jmx` prints.
func (p *Plan) RunCommand(file string, maxP99 bool) string {
	args := append([]string{"rolltest", "run", "--targets", file}, p.Args(ArgsOptions{Bounded: true, MaxP99: maxP99})...)
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	line := strings.Join(args, " ")
	bound := "--duration/--requests"
	switch {
	case p.Duration > 0:
		bound = "--duration"
	case p.Total > 0:
		bound = "--requests"
	default:
		// A plan that loops forever without a duration would never end
		// as a plain run: a minute is a first measurement, not its length.
		line += " --duration 60s"
		bound = "--duration"
	}
	return line + "\n# to prove a rollout drops nothing, drop " + bound + " and add --workload deployment/NAME -n NAMESPACE"
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// characters that are safe bare, so the printed line can be pasted.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
