package kubejob

import (
	"context"
	"fmt"
	"strings"

	authv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// permission is one thing the controller does in the agents' namespace.
type permission struct {
	verb, group, resource, subresource string
	// why is said when it is missing.
	why string
}

// permissions are every request the controller makes, in the order it
// makes them. manifests/rbac.yaml grants exactly these.
var permissions = []permission{
	{verb: "create", group: "batch", resource: "jobs", why: "to start the agents"},
	{verb: "delete", group: "batch", resource: "jobs", why: "to remove the agents when the run ends"},
	{verb: "list", resource: "pods", why: "to see the agent pods start"},
	{verb: "watch", resource: "pods", why: "to see the agent pods start"},
	{verb: "get", resource: "pods", subresource: "log", why: "to read the agents' results"},
}

// AccessError is a permission the controller lacks; nothing was created.
type AccessError struct {
	Namespace string
	// Missing is each missing permission, as "VERB RESOURCE".
	Missing []string
	why     string
}

func (e *AccessError) Error() string {
	return fmt.Sprintf("--agents: not allowed to %s in namespace %s (needed %s); manifests/rbac.yaml grants it: apply it there and run as its ServiceAccount, or bind its Role to your user",
		strings.Join(e.Missing, ", "), e.Namespace, e.why)
}

// checkAccess asks the API server, with SelfSubjectAccessReviews (which
// every authenticated user may create), whether the controller may do
// everything it will do, so that a missing permission is one sentence
// before anything exists rather than a Job nobody can read or delete.
func checkAccess(ctx context.Context, cs kubernetes.Interface, ns string) error {
	var missing *AccessError
	for _, p := range permissions {
		r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authv1.SelfSubjectAccessReview{
			Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
				Namespace: ns, Verb: p.verb, Group: p.group, Resource: p.resource, Subresource: p.subresource,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("check access to %s in namespace %s: %w", p.ref(), ns, err)
		}
		if r.Status.Allowed {
			continue
		}
		if missing == nil {
			missing = &AccessError{Namespace: ns, why: p.why}
		}
		missing.Missing = append(missing.Missing, p.verb+" "+p.ref())
	}
	if missing != nil {
		return missing
	}
	return nil
}

// ref is the resource as kubectl names it: pods/log, jobs.batch.
func (p permission) ref() string {
	r := p.resource
	if p.group != "" {
		r += "." + p.group
	}
	if p.subresource != "" {
		r += "/" + p.subresource
	}
	return r
}
