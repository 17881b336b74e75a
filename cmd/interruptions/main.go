// Command interruptions pairs Vonage Contact Center channel interruptions
// with the events that end them and publishes one duration record per
// interruption.
//
//	interruptions run      the service: Kafka in, Kafka out
//	interruptions demo     everything in one process on an embedded Kafka
//	interruptions replay   the same engine on NDJSON files
//	interruptions gen      realistic VCC traffic, to stdout, a topic or a webhook
//	interruptions ingest   VCC's signed webhooks in, Kafka out
//	interruptions inspect  one channel's state, read from the changelog, and its output records
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// env is the process's outside world, passed in so tests can run commands
// in process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore default handling: a second signal
	// ends the process at once.
	context.AfterFunc(ctx, stop)
	code := runMain(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

const topUsage = `interruptions: pairs VCC channel interruptions with the events that end them.

Usage: interruptions <command> [flags]

Commands:
  run      consume channel events from Kafka, publish interruption records
  demo     run everything on an embedded Kafka with generated traffic
  replay   run the matching engine on NDJSON files
  gen      generate realistic VCC channel events (stdout, a topic or a webhook)
  inspect  print one channel's state and output records from Kafka (no running instance needed)
  ingest   receive VCC's signed webhook notifications and produce them to Kafka

Run 'interruptions <command> --help' for a command's settings.
`

// runMain runs one command and returns the process exit code: 0 success,
// 1 failure, 2 bad usage or settings.
func runMain(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, topUsage)
		return 2
	}
	cmds := map[string]func(context.Context, []string, env) error{
		"run":     cmdRun,
		"demo":    cmdDemo,
		"replay":  cmdReplay,
		"gen":     cmdGen,
		"inspect": cmdInspect,
		"ingest":  cmdIngest,
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		fmt.Fprint(e.stdout, topUsage)
		return 0
	}
	fn, ok := cmds[name]
	if !ok {
		fmt.Fprintf(e.stderr, "interruptions: unknown command %q\n\n%s", name, topUsage)
		return 2
	}
	err := fn(ctx, args[1:], e)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.stderr, "interruptions %s: %v\nRun 'interruptions %s --help' for its settings.\n", name, err, name)
		return 2
	default:
		fmt.Fprintf(e.stderr, "interruptions %s: %v\n", name, err)
		return 1
	}
}

// parseOrHelp parses c's flags; on --help it prints the usage to stdout.
func parseOrHelp(c *command, args []string, e env) error {
	err := c.parse(args, e.getenv)
	if errors.Is(err, flag.ErrHelp) {
		c.usage(e.stdout)
	}
	return err
}

// newLogger builds a zap logger at level: JSON for services, console for
// people.
func newLogger(level string, console bool, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, usageError("log-level: %v", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if console {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	} else {
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
}
