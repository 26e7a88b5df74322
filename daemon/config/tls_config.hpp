// TLS settings of a connection, on their own so that the code that opens connections (the MQTT
// link, the HTTP client) needs them without the whole configuration.
#pragma once

#include <string>

namespace llmb {

// TLS settings of one connection (the broker, or one backend).
struct tls_config {
    std::string ca_file;       // PEM CA bundle; empty (and no ca_path): the system store
    std::string ca_path;       // directory of hashed CA certificates
    std::string cert_file;     // client certificate (PEM); empty: none
    std::string key_file;      // its private key (PEM); empty: in cert_file
    std::string key_password;  // key_password | key_password_file | key_password_env; secret
    bool insecure = false;     // no certificate or host name check (a warning is logged)
};

}  // namespace llmb
