package command

import (
	"fmt"
	"net"
	"os"

	"github.com/orch-project/orch/tlsutil"
)

// orch tls ca create | cert create: Nomad's helpers for a cluster CA and
// agent certificates, written to the current directory under Nomad's names.
func (c *cli) tlsCommand(args []string) int {
	if len(args) < 2 || args[1] != "create" || (args[0] != "ca" && args[0] != "cert") {
		return c.usageErr("Usage: orch tls ca create | orch tls cert create")
	}
	if args[0] == "ca" {
		return c.tlsCACreate(args[2:])
	}
	return c.tlsCertCreate(args[2:])
}

const tlsCACreateUsage = "tls ca create [-days 1825] [-domain nomad] [-common-name N] [-name-constraint]"

func (c *cli) tlsCACreate(args []string) int {
	fs := c.flagSet("tls ca create", nil)
	days := fs.Int("days", 1825, "days the CA is valid")
	domain := fs.String("domain", "nomad", "domain of the cluster's certificates")
	cn := fs.String("common-name", "", "common name of the CA")
	constrain := fs.Bool("name-constraint", false, "restrict the CA to the domain and localhost")
	if !c.parse(fs, args, tlsCACreateUsage) {
		return 1
	}
	if fs.NArg() != 0 {
		return c.fail("This command takes no arguments\nUsage: orch %s", tlsCACreateUsage)
	}
	certFile, keyFile := *domain+"-agent-ca.pem", *domain+"-agent-ca-key.pem"
	for _, f := range []string{certFile, keyFile} {
		if _, err := os.Stat(f); err == nil {
			return c.fail("%s already exists", f)
		}
	}
	ca, err := tlsutil.GenerateCA(tlsutil.CAOptions{Days: *days, Domain: *domain, CommonName: *cn, NameConstraint: *constrain})
	if err != nil {
		return c.fail("Error generating CA: %v", err)
	}
	if err := tlsutil.WriteNew(certFile, ca.Cert, 0o644); err != nil {
		return c.fail("Error writing CA certificate: %v", err)
	}
	if err := tlsutil.WriteNew(keyFile, ca.Key, 0o600); err != nil {
		return c.fail("Error writing CA key: %v", err)
	}
	fmt.Fprintf(c.out, "==> CA certificate saved to: %s\n==> CA certificate key saved to: %s\n", certFile, keyFile)
	return 0
}

const tlsCertCreateUsage = "tls cert create -server|-client|-cli [-ca F] [-key F] [-region global] [-days 365] [-domain nomad] [-additional-dnsname N]... [-additional-ipaddress IP]..."

func (c *cli) tlsCertCreate(args []string) int {
	fs := c.flagSet("tls cert create", nil)
	server := fs.Bool("server", false, "a server certificate")
	client := fs.Bool("client", false, "a client certificate")
	cliCert := fs.Bool("cli", false, "a certificate for the CLI and API callers")
	caFile := fs.String("ca", "", "CA certificate (default <domain>-agent-ca.pem)")
	keyFile := fs.String("key", "", "CA key (default <domain>-agent-ca-key.pem)")
	region := fs.String("region", "global", "region the certificate is for")
	fs.StringVar(region, "cluster-region", "global", "region the certificate is for")
	days := fs.Int("days", 365, "days the certificate is valid")
	domain := fs.String("domain", "nomad", "domain of the cluster's certificates")
	var dns, ips multiFlag
	fs.Var(&dns, "additional-dnsname", "another DNS name the certificate is valid for (repeatable)")
	fs.Var(&ips, "additional-ipaddress", "another IP address the certificate is valid for (repeatable)")
	if !c.parse(fs, args, tlsCertCreateUsage) {
		return 1
	}
	role, n := "", 0
	for r, set := range map[string]bool{"server": *server, "client": *client, "cli": *cliCert} {
		if set {
			role, n = r, n+1
		}
	}
	if n != 1 || fs.NArg() != 0 {
		return c.fail("Exactly one of -server, -client or -cli is required, and no arguments\nUsage: orch %s", tlsCertCreateUsage)
	}
	if *caFile == "" {
		*caFile = *domain + "-agent-ca.pem"
	}
	if *keyFile == "" {
		*keyFile = *domain + "-agent-ca-key.pem"
	}
	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		return c.fail("Error reading CA: %v", err)
	}
	caKey, err := os.ReadFile(*keyFile)
	if err != nil {
		return c.fail("Error reading CA key: %v", err)
	}
	var ipList []net.IP
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return c.fail("Invalid IP address %q", s)
		}
		ipList = append(ipList, ip)
	}
	pair, err := tlsutil.GenerateCert(&tlsutil.PEMPair{Cert: caPEM, Key: caKey}, tlsutil.CertOptions{
		Days: *days, Domain: *domain, Region: *region, Role: role, DNSName: dns, IPAddr: ipList})
	if err != nil {
		return c.fail("Error generating certificate: %v", err)
	}
	certOut, keyOut := tlsutil.CertFileNames(*region, role, *domain)
	if role == "server" {
		fmt.Fprint(c.out, "==> WARNING: Server Certificates grants authority to become a\n"+
			"    server and access all state in the cluster including root keys\n"+
			"    and all ACL tokens. Do not distribute them to production hosts\n"+
			"    that are not server nodes. Store them as securely as CA keys.\n")
	}
	if err := tlsutil.WriteNew(certOut, pair.Cert, 0o644); err != nil {
		return c.fail("Error writing certificate: %v", err)
	}
	if err := tlsutil.WriteNew(keyOut, pair.Key, 0o600); err != nil {
		return c.fail("Error writing key: %v", err)
	}
	label := map[string]string{"server": "Server", "client": "Client", "cli": "Cli"}[role]
	fmt.Fprintf(c.out, "==> Using CA file %s and CA key %s\n==> %s Certificate saved to %s\n==> %s Certificate key saved to %s\n",
		*caFile, *keyFile, label, certOut, label, keyOut)
	return 0
}
