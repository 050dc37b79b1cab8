//! The methods a server answers, read from its services' descriptors (the same encoded
//! descriptor sets reflection serves), so that the RPC layer's metrics know which paths are real.

use prost::Message as _;
use prost_types::{FileDescriptorSet, MethodDescriptorProto};

/// The encoded descriptor sets of everything a server of ours may serve: our protos, health
/// and reflection (v1 and v1alpha).
pub const DESCRIPTOR_SETS: [&[u8]; 4] = [
    api_client::FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

/// One method a server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedMethod {
    /// The service's full name, `auth.v1.AuthService`.
    pub service: String,
    /// The method's name, `Login`.
    pub method: String,
    /// How it streams, as go-grpc-prometheus' `grpc_type` names it: `unary`, `client_stream`,
    /// `server_stream` or `bidi_stream`.
    pub grpc_type: &'static str,
}

/// Every method of `services` (full names, `auth.v1.AuthService`) described in
/// `descriptor_sets`. A set that does not decode contributes nothing (the sets are compiled in,
/// so a test checks they all do).
pub fn methods_of(services: &[&str], descriptor_sets: &[&[u8]]) -> Vec<ServedMethod> {
    let mut methods = Vec::new();
    for set in descriptor_sets {
        let Ok(set) = FileDescriptorSet::decode(*set) else { continue };
        for file in &set.file {
            for service in &file.service {
                let full_name = match file.package() {
                    "" => service.name().to_owned(),
                    package => format!("{package}.{}", service.name()),
                };
                if services.contains(&full_name.as_str()) {
                    methods.extend(service.method.iter().map(|method| ServedMethod {
                        service: full_name.clone(),
                        method: method.name().to_owned(),
                        grpc_type: grpc_type(method),
                    }));
                }
            }
        }
    }
    methods
}

/// go-grpc-prometheus' name for how `method` streams.
fn grpc_type(method: &MethodDescriptorProto) -> &'static str {
    match (method.client_streaming(), method.server_streaming()) {
        (false, false) => "unary",
        (true, false) => "client_stream",
        (false, true) => "server_stream",
        (true, true) => "bidi_stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_descriptor_set_decodes() {
        for set in DESCRIPTOR_SETS {
            assert!(FileDescriptorSet::decode(set).is_ok());
        }
    }

    #[test]
    fn every_service_a_binary_serves_has_its_methods() {
        let services = [
            "auth.v1.AuthService",
            "auth.v1.UserService",
            "resource.v1.ResourceService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ];
        let methods = methods_of(&services, &DESCRIPTOR_SETS);
        for service in services {
            assert!(methods.iter().any(|served| served.service == service), "{service} has no methods");
        }
        let has = |service: &str, method: &str| methods.iter().any(|m| m.service == service && m.method == method);
        assert!(has("grpc.health.v1.Health", "Watch"));
        assert!(has("resource.v1.ResourceService", "ListResources"));
        assert!(has("grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo"));
    }

    #[test]
    fn each_method_is_typed_by_how_it_streams() {
        let services = ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "auth.v1.AuthService"];
        let methods = methods_of(&services, &DESCRIPTOR_SETS);
        let type_of =
            |method: &str| methods.iter().find(|served| served.method == method).map(|served| served.grpc_type);
        assert_eq!(type_of("Check"), Some("unary"));
        assert_eq!(type_of("Watch"), Some("server_stream"));
        assert_eq!(type_of("ServerReflectionInfo"), Some("bidi_stream"));
        assert_eq!(type_of("Login"), Some("unary"));
    }

    #[test]
    fn the_methods_of_the_named_services_are_listed() {
        let methods = methods_of(&["auth.v1.AuthService", "grpc.health.v1.Health"], &DESCRIPTOR_SETS);
        let has = |service: &str, method: &str| methods.iter().any(|m| m.service == service && m.method == method);
        assert!(has("auth.v1.AuthService", "ValidateToken"));
        assert!(has("auth.v1.AuthService", "Login"));
        assert!(has("grpc.health.v1.Health", "Check"));
        assert!(!methods.iter().any(|served| served.service == "resource.v1.ResourceService"));
        assert!(!methods.iter().any(|served| served.service.contains("reflection")));
    }
}
