package acl

import "context"

type secretKey struct{}

// withSecret tells a Source which secret is being resolved, for sources
// that must present it to fetch the token's policies and roles (a client
// agent asking its servers).
func withSecret(ctx context.Context, secret string) context.Context {
	return context.WithValue(ctx, secretKey{}, secret)
}

// SecretFromContext returns the secret being resolved ("" for anonymous).
func SecretFromContext(ctx context.Context) string {
	s, _ := ctx.Value(secretKey{}).(string)
	return s
}
