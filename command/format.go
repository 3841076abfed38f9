package command

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// printTable prints rows as aligned columns; the first row is the header.
func printTable(w io.Writer, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// printKV prints "Key = Value" lines with the "=" aligned, as Nomad does.
func printKV(w io.Writer, kv [][2]string) {
	width := 0
	for _, p := range kv {
		width = max(width, len(p[0]))
	}
	for _, p := range kv {
		fmt.Fprintf(w, "%-*s = %s\n", width, p[0], p[1])
	}
}

// formatUnixNano renders a Unix-nanosecond time as RFC 3339 local time.
func formatUnixNano(ns int64) string {
	if ns == 0 {
		return "N/A"
	}
	return time.Unix(0, ns).Local().Format(time.RFC3339)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	return t.Local().Format(time.RFC3339)
}

// ago renders how long before now a Unix-nanosecond time was.
func ago(ns int64, now time.Time) string {
	if ns == 0 {
		return "N/A"
	}
	return prettyDuration(now.Sub(time.Unix(0, ns))) + " ago"
}

// prettyDuration keeps the two most significant units: "3s", "5m2s",
// "2h10m", "3d4h".
func prettyDuration(d time.Duration) string {
	if d < time.Second {
		d = time.Second
	}
	d = d.Round(time.Second)
	days := int(d / (24 * time.Hour))
	h := int(d/time.Hour) % 24
	m := int(d/time.Minute) % 60
	s := int(d/time.Second) % 60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%ds", m, s)
	default:
		return fmt.Sprintf("%ds", s)
	}
}

// humanBytes renders a MiB count the way Nomad's resource tables do.
func humanMiB(mb int64) string {
	if mb >= 1024 && mb%1024 == 0 {
		return fmt.Sprintf("%d GiB", mb/1024)
	}
	if mb >= 1024 {
		return fmt.Sprintf("%.1f GiB", float64(mb)/1024)
	}
	return fmt.Sprintf("%d MiB", mb)
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
