// Command polarise-client is a Polarise client in Go, generated from proto/
// with Debian's protoc-gen-go and protoc-gen-go-grpc and built against
// Debian's golang-google-grpc-dev (see build.sh and README.md).
//
//	examples/go/build.sh
//	examples/go/gen/bin/polarise-client -address localhost:8443 \
//	    -ca certs/dev/ca.crt -cert certs/dev/renter-dev.crt -key certs/dev/renter-dev.key demo
//
// Commands:
//
//	health   the miner's health (grpc.health.v1)
//	list     the caller's containers
//	demo     health, allocate a container (1 CPU, -memory), stream a challenge
//	         (a busy loop of 2 to 3 s) with live samples every 100 ms, list
//	         the caller's containers, release
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	healthv1 "polarise/gen/healthv1"
	polarisev1 "polarise/gen/polarisev1"
)

type options struct {
	address, ca, cert, key, memory string
}

func main() {
	var o options
	flag.StringVar(&o.address, "address", "localhost:8443", "miner host:port")
	flag.StringVar(&o.ca, "ca", "certs/dev/ca.crt", "subnet CA certificate")
	flag.StringVar(&o.cert, "cert", "certs/dev/renter-dev.crt", "client certificate")
	flag.StringVar(&o.key, "key", "certs/dev/renter-dev.key", "client key")
	flag.StringVar(&o.memory, "memory", "256m", "memory for demo")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags] health|list|demo\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	commands := map[string]func(*grpc.ClientConn, options) error{"health": health, "list": list, "demo": demo}
	command, ok := commands[flag.Arg(0)]
	if !ok {
		flag.Usage()
		os.Exit(2)
	}
	conn, err := dial(o)
	if err == nil {
		err = command(conn, o)
		conn.Close()
	}
	if err != nil {
		if s, ok := status.FromError(err); ok {
			fmt.Fprintf(os.Stderr, "error: %s: %s\n", strings.ToUpper(codeName(s.Code().String())), s.Message())
		} else {
			fmt.Fprintf(os.Stderr, "error: %v\n", err)
		}
		os.Exit(1)
	}
}

// codeName turns grpc-go's "Unavailable" into "UNAVAILABLE" (as other
// languages print the code), "DeadlineExceeded" into "DEADLINE_EXCEEDED".
func codeName(camel string) string {
	var b strings.Builder
	for i, r := range camel {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// dial opens a channel over mutual TLS: the subnet CA verifies the miner, the
// client certificate (with its role in the SAN URI) identifies the caller.
func dial(o options) (*grpc.ClientConn, error) {
	pair, err := tls.LoadX509KeyPair(o.cert, o.key)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	caPEM, err := os.ReadFile(o.ca)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("CA certificate: no PEM certificate in %s", o.ca)
	}
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      roots,
		MinVersion:   tls.VersionTLS12,
	})
	return grpc.Dial(o.address, grpc.WithTransportCredentials(creds))
}

func health(conn *grpc.ClientConn, _ options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := healthv1.NewHealthClient(conn).Check(ctx, &healthv1.HealthCheckRequest{Service: ""})
	if err != nil {
		return err
	}
	fmt.Println(reply.GetStatus())
	return nil
}

func list(conn *grpc.ClientConn, _ options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reply, err := polarisev1.NewMinerServiceClient(conn).ListContainers(ctx, &polarisev1.ListContainersRequest{})
	if err != nil {
		return err
	}
	for _, c := range reply.GetContainers() {
		fmt.Printf("listed %s %s %s cpus=%d memory=%d ssh_port=%d expires=%s\n", short(c.GetContainerId()), c.GetContainerName(),
			c.GetState(), c.GetCpuCount(), c.GetMemoryBytes(), c.GetSshPort(), c.GetExpiresAt().AsTime().Format(time.RFC3339))
	}
	fmt.Printf("%d containers\n", len(reply.GetContainers()))
	return nil
}

func demo(conn *grpc.ClientConn, o options) (err error) {
	fmt.Print("health ")
	if err := health(conn, o); err != nil {
		fmt.Println()
		return err
	}
	miner := polarisev1.NewMinerServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	alloc, err := miner.Allocate(ctx, &polarisev1.AllocateRequest{Memory: o.memory, CpuCount: 1, LeaseSeconds: 600})
	cancel()
	if err != nil {
		return err
	}
	id := alloc.GetContainerId()
	fmt.Printf("allocated %s (%s); ssh %s@%s -p %d\n", alloc.GetContainerName(), short(id), alloc.GetUsername(), alloc.GetHost(), alloc.GetSshPort())
	defer func() {
		// Release always, also after a failed challenge.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, releaseErr := miner.Release(ctx, &polarisev1.ReleaseRequest{ContainerId: id}); releaseErr != nil {
			if err == nil {
				err = releaseErr
			}
			return
		}
		fmt.Printf("released %s\n", short(id))
	}()

	if err := challenge(miner, id); err != nil {
		return err
	}
	return list(conn, o)
}

// challenge runs a busy loop of two to three seconds (until the clock's
// second has advanced by 3) in the container and prints every live sample as
// it arrives, then the result.
func challenge(miner polarisev1.MinerServiceClient, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := miner.RunChallenge(ctx, &polarisev1.RunChallengeRequest{
		ContainerId:      id,
		Type:             polarisev1.ChallengeType_CHALLENGE_TYPE_COMPUTE,
		Command:          []string{"sh", "-c", "end=$(($(date +%s)+3)); while [ $(date +%s) -lt $end ]; do :; done; echo done"},
		Duration:         30,
		SampleIntervalMs: 100,
	})
	if err != nil {
		return err
	}
	samples, results := 0, 0
	for {
		event, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if s := event.GetSample(); s != nil {
			samples++
			fmt.Printf("sample t=%5.2fs cpu=%6.1f%% mem=%d pids=%d\n", float64(s.GetElapsedUs())/1e6, s.GetCpuUsage(), s.GetMemoryUsage(), s.GetPids())
		} else if r := event.GetResult(); r != nil {
			results++
			c, sum := r.GetCommandResult(), r.GetSummary()
			fmt.Printf("result status=%s exit_code=%d output=%q\n", c.GetStatus(), c.GetExitCode(), strings.TrimSpace(c.GetOutput()))
			fmt.Printf("summary mean_cpu=%.1f%% samples=%d wall_ms=%d\n", sum.GetMeanCpuUsage(), sum.GetSampleCount(), sum.GetWallTimeMs())
		}
		// Other events (output chunks) are not asked for here.
	}
	fmt.Printf("%d samples streamed\n", samples)
	if results != 1 {
		return fmt.Errorf("the stream ended with %d results, want exactly 1", results)
	}
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
