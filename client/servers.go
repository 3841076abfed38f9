package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/orch-project/orch/api"
)

// serverList holds the servers' HTTP addresses and fails over between them:
// a request goes to the last server that answered, then to the others.
type serverList struct {
	mu      sync.Mutex
	addrs   []string
	next    int
	clients map[string]*api.Client
	hc      *http.Client
}

func newServerList(addrs []string) *serverList {
	s := &serverList{clients: map[string]*api.Client{}, hc: &http.Client{Transport: &http.Transport{
		Proxy: nil, MaxIdleConnsPerHost: 8,
	}}}
	s.set(addrs)
	return s
}

func (s *serverList) set(addrs []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := ""
	if len(s.addrs) > 0 {
		cur = s.addrs[s.next%len(s.addrs)]
	}
	s.addrs = append([]string(nil), addrs...)
	s.next = 0
	for i, a := range s.addrs {
		if a == cur {
			s.next = i
		}
	}
}

func (s *serverList) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.addrs...)
}

func (s *serverList) client(addr string) (*api.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[addr]; ok {
		return c, nil
	}
	c, err := api.NewClient(api.Config{Address: addr, HTTPClient: s.hc})
	if err != nil {
		return nil, err
	}
	s.clients[addr] = c
	return c, nil
}

var errNoServers = errors.New("no servers known")

// do runs fn against each server in turn until one answers. Only transport
// errors and 5xx answers move on to the next server: a 4xx is the answer.
func (s *serverList) do(ctx context.Context, fn func(*api.Client) error) error {
	s.mu.Lock()
	addrs := append([]string(nil), s.addrs...)
	start := s.next
	s.mu.Unlock()
	if len(addrs) == 0 {
		return errNoServers
	}
	var errs []error
	for i := range addrs {
		idx := (start + i) % len(addrs)
		c, err := s.client(addrs[idx])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = fn(c)
		if err == nil {
			s.mu.Lock()
			if idx < len(s.addrs) && s.addrs[idx] == addrs[idx] {
				s.next = idx
			}
			s.mu.Unlock()
			return nil
		}
		var se *api.StatusError
		if errors.As(err, &se) && se.Code < 500 {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, fmt.Errorf("server %s: %w", addrs[idx], err))
	}
	return errors.Join(errs...)
}
