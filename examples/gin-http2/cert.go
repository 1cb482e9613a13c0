package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"time"
)

// certificate loads certFile and keyFile, or when both are empty makes a
// self-signed certificate for 127.0.0.1, ::1 and localhost, valid for a
// week. It is kept in memory only: every start makes a new one, which the
// browser warns about again.
func certificate(certFile, keyFile string) (tls.Certificate, error) {
	switch {
	case certFile != "" && keyFile != "":
		return tls.LoadX509KeyPair(certFile, keyFile)
	case certFile != "" || keyFile != "":
		return tls.Certificate{}, errors.New("give both -cert and -key, or neither")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	template := &x509.Certificate{
		// No SerialNumber: CreateCertificate picks a random one.
		Subject:               pkix.Name{CommonName: "gin-http2 self-signed"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
