package tlsutil

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// Nomad's file names for what `tls ca create` and `tls cert create` write.
const (
	CAFileName    = "nomad-agent-ca.pem"
	CAKeyFileName = "nomad-agent-ca-key.pem"
)

// CertFileNames returns the certificate and key file names Nomad uses for
// role in region: global-server-nomad.pem and global-server-nomad-key.pem.
func CertFileNames(region, role, domain string) (cert, key string) {
	base := fmt.Sprintf("%s-%s-%s", region, role, domain)
	return base + ".pem", base + "-key.pem"
}

// PKI is a CA and certificates written to a directory.
type PKI struct {
	Dir    string
	CA     *PEMPair
	Region string
}

// NewPKI writes a fresh CA into dir.
func NewPKI(dir, region string) (*PKI, error) {
	ca, err := GenerateCA(CAOptions{Days: 30})
	if err != nil {
		return nil, err
	}
	if err := writeExclusive(filepath.Join(dir, CAFileName), ca.Cert, 0o644); err != nil {
		return nil, err
	}
	if err := writeExclusive(filepath.Join(dir, CAKeyFileName), ca.Key, 0o600); err != nil {
		return nil, err
	}
	return &PKI{Dir: dir, CA: ca, Region: region}, nil
}

// CAFile is the CA certificate's path.
func (p *PKI) CAFile() string { return filepath.Join(p.Dir, CAFileName) }

// Issue writes a certificate for role under name (a file name prefix) and
// returns its certificate and key paths.
func (p *PKI) Issue(name, role string, ips ...net.IP) (certFile, keyFile string, err error) {
	pair, err := GenerateCert(p.CA, CertOptions{Days: 30, Region: p.Region, Role: role, IPAddr: ips})
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(p.Dir, name+".pem"), filepath.Join(p.Dir, name+"-key.pem")
	if err := writeExclusive(certFile, pair.Cert, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, writeExclusive(keyFile, pair.Key, 0o600)
}

// Config returns the tls block of an agent using the certificate name.
func (p *PKI) Config(certFile, keyFile string) *Config {
	return &Config{HTTP: true, RPC: true, CAFile: p.CAFile(), CertFile: certFile, KeyFile: keyFile,
		VerifyServerHostname: true, Region: p.Region}
}

// writeExclusive creates path with data, refusing to overwrite a file.
func writeExclusive(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if os.IsExist(err) {
			return fmt.Errorf("%s: file already exists", path)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteNew creates path with data, refusing to overwrite an existing file
// (for the CLI's tls commands).
func WriteNew(path string, data []byte, mode os.FileMode) error {
	return writeExclusive(path, data, mode)
}
