package java

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// JavaInfo is what `java -version` says about the JVM.
type JavaInfo struct {
	Version string
	Runtime string
	VM      string
}

// findJava locates the java binary: $JAVA_HOME/bin/java first, then PATH.
// The result has symlinks resolved, because an isolated task does not see
// /etc/alternatives and the like.
func findJava() (string, error) {
	var p string
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if c := filepath.Join(home, "bin", "java"); isExecutable(c) {
			p = c
		}
	}
	if p == "" {
		lp, err := exec.LookPath("java")
		if err != nil {
			return "", errors.New("java not found in JAVA_HOME or PATH")
		}
		p = lp
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", p, err)
	}
	abs, err := filepath.Abs(real)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", real, err)
	}
	return abs, nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// probeJava runs `java -version`.
func probeJava(ctx context.Context, java string) (*JavaInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, java, "-version")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s -version: %w", java, err)
	}
	info, err := ParseVersion(out.String())
	if err != nil {
		return nil, err
	}
	return info, nil
}

// ParseVersion reads the three lines of `java -version`:
//
//	openjdk version "17.0.15" 2025-04-15
//	OpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)
//	OpenJDK 64-Bit Server VM (build 17.0.15+6-Debian-1deb12u1, mixed mode, sharing)
//
// JVMs may print notices (e.g. "Picked up JAVA_TOOL_OPTIONS") first, so the
// version line is searched for.
func ParseVersion(out string) (*JavaInfo, error) {
	lines := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
	for i, line := range lines {
		if !strings.Contains(line, " version \"") {
			continue
		}
		_, rest, _ := strings.Cut(line, "\"")
		ver, _, ok := strings.Cut(rest, "\"")
		if !ok || ver == "" {
			break
		}
		info := &JavaInfo{Version: ver}
		if i+1 < len(lines) {
			info.Runtime = strings.TrimSpace(lines[i+1])
		}
		if i+2 < len(lines) {
			info.VM = strings.TrimSpace(lines[i+2])
		}
		return info, nil
	}
	return nil, fmt.Errorf("unrecognised java -version output: %q", strings.TrimSpace(out))
}
