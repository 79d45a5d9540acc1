// Command cri-clean stops and removes every pod sandbox known to a CRI
// runtime. Removing sandboxes through the CRI (rather than killing
// processes) makes containerd run CNI DEL, which releases the pod IPs and
// deletes the veths, hostport rules and /run/netns entries it created.
//
// It replaces the recipe's `crictl rmp -fa` with a few dozen lines over
// k8s.io/cri-api, which the Kubernetes build already depends on.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	endpoint := flag.String("endpoint", "", "CRI socket path (required)")
	timeout := flag.Duration("timeout", 60*time.Second, "overall deadline")
	flag.Parse()
	if *endpoint == "" {
		log.Fatal("cri-clean: -endpoint is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *endpoint); err != nil {
		log.Fatalf("cri-clean: %v", err)
	}
}

func run(ctx context.Context, endpoint string) error {
	conn, err := grpc.NewClient("unix://"+endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connect %s: %w", endpoint, err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)

	resp, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("list pod sandboxes: %w", err)
	}
	var failed int
	for _, sb := range resp.Items {
		name := sb.Id
		if sb.Metadata != nil {
			name = sb.Metadata.Namespace + "/" + sb.Metadata.Name
		}
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			log.Printf("stop sandbox %s: %v", name, err)
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			log.Printf("remove sandbox %s: %v", name, err)
			failed++
			continue
		}
		fmt.Printf("removed sandbox %s\n", name)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d sandboxes not removed", failed, len(resp.Items))
	}
	fmt.Printf("cri-clean: %d sandboxes removed\n", len(resp.Items))
	return nil
}
