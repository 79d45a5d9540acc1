package main

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// kubectl runs an executable named kubectl-NAME on the PATH for
// `kubectl NAME` (and krew installs it under that name), so the binary
// reads its own name to know whether it speaks as rolltest or as a plugin.
const (
	pluginExecutable = "kubectl-rolltest"
	pluginCommand    = "kubectl rolltest"
)

// isKubectlPlugin says whether arg0, the path the process was started by,
// names the plugin: a copy or a symlink of the binary, as krew and
// `make install-plugin` install it.
func isKubectlPlugin(arg0 string) bool {
	return strings.TrimSuffix(filepath.Base(arg0), ".exe") == pluginExecutable
}

// exampleCommand is the start of a command line in an Example.
var exampleCommand = regexp.MustCompile(`(?m)^(\s*)rolltest `)

// asKubectlPlugin makes every usage line, help text and example of root
// read `kubectl rolltest …`, the command a plugin user types. The flags
// are kubectl's own already (--kubeconfig, --context, -n/--namespace), so
// only the words change.
func asKubectlPlugin(root *cobra.Command) {
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	// cobra writes this name wherever it writes the root's, in usage
	// lines and in "Use ... --help".
	root.Annotations[cobra.CommandDisplayNameAnnotation] = pluginCommand
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Example = exampleCommand.ReplaceAllString(c.Example, "${1}"+pluginCommand+" ")
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
