//! The methods a server answers, read from its services' descriptors (the same encoded
//! descriptor sets reflection serves), so that the RPC layer's metrics know which paths are real.

use prost::Message as _;
use prost_types::FileDescriptorSet;

/// The encoded descriptor sets of everything a server of ours may serve: our protos, health
/// and reflection (v1 and v1alpha).
pub const DESCRIPTOR_SETS: [&[u8]; 4] = [
    api_client::FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

/// `(service, method)` of every method of `services` (full names, `auth.v1.AuthService`)
/// described in `descriptor_sets`. A set that does not decode contributes nothing (the sets are
/// compiled in, so a test checks they all do).
pub fn methods_of(services: &[&str], descriptor_sets: &[&[u8]]) -> Vec<(String, String)> {
    let mut methods = Vec::new();
    for set in descriptor_sets {
        let Ok(set) = FileDescriptorSet::decode(*set) else { continue };
        for file in &set.file {
            for service in &file.service {
                let full_name = format!("{}.{}", file.package(), service.name());
                if services.contains(&full_name.as_str()) {
                    methods.extend(service.method.iter().map(|method| (full_name.clone(), method.name().to_owned())));
                }
            }
        }
    }
    methods
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
    fn the_methods_of_the_named_services_are_listed() {
        let methods = methods_of(&["auth.v1.AuthService", "grpc.health.v1.Health"], &DESCRIPTOR_SETS);
        let has = |service: &str, method: &str| methods.iter().any(|(s, m)| s == service && m == method);
        assert!(has("auth.v1.AuthService", "ValidateToken"));
        assert!(has("auth.v1.AuthService", "Login"));
        assert!(has("grpc.health.v1.Health", "Check"));
        assert!(!methods.iter().any(|(service, _)| service == "resource.v1.ResourceService"));
        assert!(!methods.iter().any(|(service, _)| service.contains("reflection")));
    }
}
