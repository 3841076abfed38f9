package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/orch-project/orch/structs"
)

// Services is the service catalog endpoints.
type Services struct{ c *Client }

// Services returns the service catalog endpoints.
func (c *Client) Services() *Services { return &Services{c: c} }

// List returns each namespace's services with their tags.
func (s *Services) List(ctx context.Context, q *QueryOptions) ([]*structs.ServiceRegistrationListStub, *QueryMeta, error) {
	var out []*structs.ServiceRegistrationListStub
	qm, err := s.c.Query(ctx, "/v1/services", q, &out)
	return out, qm, err
}

// Get returns a service's instances.
func (s *Services) Get(ctx context.Context, name string, q *QueryOptions) ([]*structs.ServiceRegistration, *QueryMeta, error) {
	var out []*structs.ServiceRegistration
	qm, err := s.c.Query(ctx, "/v1/service/"+url.PathEscape(name), q, &out)
	return out, qm, err
}

// Delete removes one instance of a service.
func (s *Services) Delete(ctx context.Context, name, id string, q *QueryOptions) error {
	return s.c.Write(ctx, http.MethodDelete, "/v1/service/"+url.PathEscape(name)+"/"+url.PathEscape(id), q, nil, nil)
}
