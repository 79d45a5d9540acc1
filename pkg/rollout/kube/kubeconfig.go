package kube

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// RESTConfig finds the cluster the way kubectl does: the kubeconfig file
// named by kubeconfig, else the files listed in $KUBECONFIG, else
// ~/.kube/config, with context selecting a context other than the current
// one; when none of these exist and the process runs in a pod, the pod's
// service account (in-cluster config). Empty arguments mean kubectl's
// defaults, like omitting --kubeconfig and --context.
func RESTConfig(kubeconfig, context string) (*rest.Config, error) {
	cfg, err := kubeClientConfig(kubeconfig, context).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.UserAgent = "rolltest"
	// client-go's default client-side limit (5 requests/s, bursts of 10)
	// is shared by the driver's four informers, their re-lists after an
	// API outage or a 429, and the trigger: after an outage the re-lists
	// alone could queue behind it and leave the timeline blind for
	// seconds. kubectl raised its own limits likewise; the server's
	// priority and fairness still protects the API server.
	if cfg.QPS == 0 {
		cfg.QPS = 50
	}
	if cfg.Burst == 0 {
		cfg.Burst = 100
	}
	return cfg, nil
}

// DefaultNamespace returns the namespace kubectl would use without -n: the
// namespace of the selected context, else the pod's own namespace when
// running in-cluster, else "default".
func DefaultNamespace(kubeconfig, context string) (string, error) {
	ns, _, err := kubeClientConfig(kubeconfig, context).Namespace()
	if err != nil {
		return "", fmt.Errorf("load kubeconfig: %w", err)
	}
	return ns, nil
}

// kubeClientConfig builds the same loader as kubectl's --kubeconfig and
// --context flags (genericclioptions.ConfigFlags.ToRawKubeConfigLoader):
// the deferred loader falls back to the in-cluster config on its own.
func kubeClientConfig(kubeconfig, context string) clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}
