//go:build linux

package devnet

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/docket-project/docket/node/daemon"
)

// proc is a child process of the devnet: a docket node or a seeder.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // the file holding its standard output and error
	done chan struct{}
	err  error // set when done is closed
}

// start starts the docket executable with args, inside ns unless nil,
// in its own process group so that a Ctrl-C on the terminal reaches the
// devnet alone, which then stops its children in order.
func (r *runner) start(name string, ns *NS, args ...string) (*proc, error) {
	logPath := filepath.Join(r.dir, "logs", name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(r.opts.Docket, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = r.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if ns != nil {
		err = ns.Start(cmd)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("failed to start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	r.procs = append(r.procs, p)
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to 15 seconds, then kills.
func (p *proc) stop() error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		var exit *exec.ExitError
		if p.err != nil && !(errors.As(p.err, &exit) && exit.Sys().(syscall.WaitStatus).Signaled()) {
			return fmt.Errorf("%s exited: %w (see %s)", p.name, p.err, p.log)
		}
		return nil
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop on SIGTERM within 15 s and was killed (see %s)", p.name, p.log)
	}
}

// tail returns the last lines of the process's output, for errors.
func (p *proc) tail() string {
	data, _ := os.ReadFile(p.log)
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// startNode runs "docket node run" for the node in dir and waits, at
// most 30 seconds, until it has written its run file.
func (r *runner) startNode(name string, ns *NS) (*proc, daemon.RunInfo, error) {
	dir := filepath.Join(r.dir, name)
	p, err := r.start(name, ns, "node", "run", "-c", filepath.Join(dir, daemon.StarterConfigFile))
	if err != nil {
		return nil, daemon.RunInfo{}, err
	}
	var info daemon.RunInfo
	err = r.waitFor(30*time.Second, name+" to start", func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("%s exited: %v\n%s", name, p.err, p.tail())
		}
		data, err := os.ReadFile(filepath.Join(dir, "data", daemon.RunFile))
		return err == nil && json.Unmarshal(data, &info) == nil && info.PID == p.cmd.Process.Pid, nil
	})
	return p, info, err
}

// startSeeder runs "docket devnet seed" for the addresses, inside ns
// unless nil, and waits until every one listens.
func (r *runner) startSeeder(name string, ns *NS, listen []string, victims []string) (*proc, error) {
	ready := filepath.Join(r.dir, "swarm", name+".ready")
	args := []string{"devnet", "seed", "--torrent", r.torrent.File, "--data", r.torrent.DataDir, "--ready", ready}
	for _, a := range listen {
		args = append(args, "--listen", a)
	}
	for _, a := range victims {
		args = append(args, "--victim", a)
	}
	p, err := r.start(name, ns, args...)
	if err != nil {
		return nil, err
	}
	err = r.waitFor(30*time.Second, name+" to listen", func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("%s exited: %v\n%s", name, p.err, p.tail())
		}
		_, err := os.Stat(ready)
		return err == nil, nil
	})
	return p, err
}

// stopAll stops every process still running, newest first.
func (r *runner) stopAll() error {
	var errs []error
	for i := len(r.procs) - 1; i >= 0; i-- {
		if err := r.procs[i].stop(); err != nil {
			errs = append(errs, err)
		}
	}
	r.procs = nil
	return errors.Join(errs...)
}
