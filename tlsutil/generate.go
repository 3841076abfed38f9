package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// CAOptions shape a new certificate authority.
type CAOptions struct {
	Days       int    // validity; Nomad's default is 1825
	Domain     string // "nomad"
	CommonName string // default "Nomad Agent CA <serial>"
	// NameConstraint limits the CA to Domain and localhost.
	NameConstraint bool
}

// CertOptions shape a new agent certificate.
type CertOptions struct {
	Days   int    // Nomad's default is 365
	Domain string // "nomad"
	Region string // "global"
	// Role is "server", "client" or "cli".
	Role    string
	DNSName []string
	IPAddr  []net.IP
}

// PEMPair is a certificate and its private key, PEM-encoded.
type PEMPair struct {
	Cert, Key []byte
}

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding key: %w", err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

func keyID(pub *ecdsa.PublicKey) []byte {
	b, _ := x509.MarshalPKIXPublicKey(pub)
	h := sha256.Sum256(b)
	return h[:20]
}

// GenerateCA creates a self-signed CA.
func GenerateCA(o CAOptions) (*PEMPair, error) {
	if o.Days <= 0 {
		return nil, errors.New("days must be positive")
	}
	if o.Domain == "" {
		o.Domain = "nomad"
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	cn := o.CommonName
	if cn == "" {
		cn = fmt.Sprintf("Nomad Agent CA %d", sn)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"orch"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.AddDate(0, 0, o.Days),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          keyID(&key.PublicKey),
		AuthorityKeyId:        keyID(&key.PublicKey),
	}
	if o.NameConstraint {
		tmpl.PermittedDNSDomainsCritical = true
		tmpl.PermittedDNSDomains = []string{o.Domain, "localhost"}
		tmpl.PermittedIPRanges = []*net.IPNet{{IP: net.IPv4(127, 0, 0, 0), Mask: net.CIDRMask(8, 32)}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("signing CA: %w", err)
	}
	return &PEMPair{Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Key: keyPEM}, nil
}

// GenerateCert creates a certificate for role, signed by the CA. Servers
// and clients get server.<region>.<domain> (client...) and localhost, and
// serve and connect alike (mutual TLS); CLI certificates are for clients
// of the HTTP API only.
func GenerateCert(ca *PEMPair, o CertOptions) (*PEMPair, error) {
	if o.Days <= 0 {
		return nil, errors.New("days must be positive")
	}
	if o.Domain == "" {
		o.Domain = "nomad"
	}
	if o.Region == "" {
		o.Region = "global"
	}
	caCert, caKey, err := parsePair(ca)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s.%s.%s", o.Role, o.Region, o.Domain)
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	switch o.Role {
	case "server", "client":
	case "cli":
		usage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		return nil, fmt.Errorf("role must be server, client or cli, not %q", o.Role)
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:   sn,
		Subject:        pkix.Name{CommonName: name},
		NotBefore:      now.Add(-time.Minute),
		NotAfter:       now.AddDate(0, 0, o.Days),
		KeyUsage:       x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:    usage,
		DNSNames:       append([]string{name, "localhost"}, o.DNSName...),
		IPAddresses:    append([]net.IP{net.IPv4(127, 0, 0, 1)}, o.IPAddr...),
		SubjectKeyId:   keyID(&key.PublicKey),
		AuthorityKeyId: caCert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w", err)
	}
	return &PEMPair{Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Key: keyPEM}, nil
}

func parsePair(p *PEMPair) (*x509.Certificate, any, error) {
	cb, _ := pem.Decode(p.Cert)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, errors.New("CA certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, nil, errors.New("the CA certificate is not a CA")
	}
	kb, _ := pem.Decode(p.Key)
	if kb == nil {
		return nil, nil, errors.New("CA key is not PEM")
	}
	var key any
	switch kb.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	default:
		err = fmt.Errorf("unsupported key type %q", kb.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("parsing CA key: %w", err)
	}
	return cert, key, nil
}
