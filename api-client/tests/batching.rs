//! End to end: validations that find every call slot taken go together in `ValidateTokens`
//! calls to the auth double (real sockets, the generated clients), and each still gets its own
//! answer.

mod support;

use std::time::{Duration, Instant};

use api_client::GuardConfig;
use api_client::auth::v1::{Role, User};
use support::bed::{TestBed, bearer, reason};
use support::within;
use tonic::{Code, Status};

/// No cache, one call slot: every validation asks the auth service, and all but one wait.
fn one_slot() -> GuardConfig {
    GuardConfig { cache_ttl: Duration::ZERO, calls_in_flight: 1, ..GuardConfig::default() }
}

/// GetMe with each token, all at once over one connection; the answers in the tokens' order.
async fn get_me_all(bed: &TestBed, tokens: &[String]) -> anyhow::Result<Vec<Result<User, Status>>> {
    let calls = tokens.iter().map(|token| bed.get_me(Some(token)));
    within(Duration::from_secs(10), futures::future::join_all(calls)).await
}

/// The double accepts each token, for users 1, 2, … in order.
fn accept_all(bed: &TestBed, tokens: &[String]) {
    for (user_id, token) in (1..).zip(tokens) {
        bed.double.accept(token, user_id, Role::User, Duration::from_secs(3600));
    }
}

fn tokens(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("token-{n}")).collect()
}

#[tokio::test]
async fn validations_waiting_for_a_slot_go_together_in_one_call() -> anyhow::Result<()> {
    let bed = TestBed::spawn(one_slot()).await?;
    let tokens = tokens(50);
    accept_all(&bed, &tokens);
    // The first validation holds the slot this long: the others arrive meanwhile.
    bed.double.delay(Duration::from_millis(300));

    let answers = get_me_all(&bed, &tokens).await?;

    for (user_id, answer) in (1..).zip(answers) {
        assert_eq!(answer?.id, user_id, "each request gets its own caller");
    }
    let batches = bed.double.batch_sizes();
    assert_eq!(bed.double.calls() + batches.iter().sum::<usize>(), 50, "every token checked once");
    assert!(!batches.is_empty() && batches.len() <= 3, "batches: {batches:?}");
    assert!(bed.double.calls() <= 3, "{} single calls", bed.double.calls());
    let stats = bed.guard.stats();
    assert_eq!(stats.cache_misses, 50);
    assert_eq!(stats.batch_calls, batches.len() as u64);
    assert_eq!(stats.batched_validations, batches.iter().sum::<usize>() as u64);
    Ok(())
}

#[tokio::test]
async fn a_batch_goes_with_the_request_id_of_one_of_its_checks() -> anyhow::Result<()> {
    let bed = TestBed::spawn(one_slot()).await?;
    let tokens = tokens(20);
    accept_all(&bed, &tokens);
    bed.double.delay(Duration::from_millis(300));

    let calls = tokens.iter().enumerate().map(|(n, token)| {
        let mut request = bearer(token);
        request.metadata_mut().insert("x-request-id", format!("req-{n}").parse().expect("an ASCII id"));
        let mut client = bed.client();
        async move { client.get_me(request).await }
    });
    for answer in within(Duration::from_secs(10), futures::future::join_all(calls)).await? {
        answer?;
    }

    let batch_ids = bed.double.batch_request_ids();
    assert!(!batch_ids.is_empty(), "no batch was sent");
    let sent: Vec<String> = (0..20).map(|n| format!("req-{n}")).collect();
    // The calls that went alone carry their own ids; no batch may reuse one.
    let mut seen = bed.double.request_ids();
    for id in batch_ids {
        let id = id.expect("every batch carries an x-request-id");
        assert!(sent.contains(&id), "{id} is none of the requests' ids");
        assert!(!seen.contains(&id), "{id} named two calls");
        seen.push(id);
    }
    Ok(())
}

#[tokio::test]
async fn each_validation_in_a_batch_keeps_its_own_refusal() -> anyhow::Result<()> {
    let bed = TestBed::spawn(one_slot()).await?;
    bed.double.accept("holder", 1, Role::User, Duration::from_secs(3600));
    bed.double.accept("ada", 2, Role::Admin, Duration::from_secs(3600));
    bed.double.refuse("revoked", Code::Unauthenticated, "SESSION_REVOKED", "session revoked");
    bed.double.refuse("disabled", Code::PermissionDenied, "ACCOUNT_DISABLED", "this account is disabled");
    bed.double.delay(Duration::from_millis(300));

    let holder = bed.get_me(Some("holder"));
    let waiting = async {
        // After the holder has taken the slot.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let tokens = ["ada", "revoked", "disabled", "unknown"].map(str::to_owned);
        get_me_all(&bed, &tokens).await
    };
    let (holder, waiting) = tokio::join!(holder, waiting);

    assert_eq!(holder?.id, 1);
    let [ada, revoked, disabled, unknown] = <[_; 4]>::try_from(waiting?).expect("four answers");
    assert_eq!(ada?.id, 2);
    let refusals = [(revoked, Code::Unauthenticated, "SESSION_REVOKED", "session revoked")]
        .into_iter()
        .chain([(disabled, Code::PermissionDenied, "ACCOUNT_DISABLED", "this account is disabled")])
        .chain([(unknown, Code::Unauthenticated, "INVALID_TOKEN", "invalid access token")]);
    for (answer, code, expected_reason, message) in refusals {
        let refused = answer.expect_err("refused by the auth service");
        assert_eq!((refused.code(), refused.message()), (code, message));
        assert_eq!(reason(&refused), expected_reason);
    }
    assert_eq!(bed.double.batch_sizes(), vec![4]);
    Ok(())
}

#[tokio::test]
async fn an_auth_service_without_batches_gets_one_call_per_validation() -> anyhow::Result<()> {
    let bed = TestBed::spawn(one_slot()).await?;
    bed.double.refuse_batches();
    let tokens = tokens(20);
    accept_all(&bed, &tokens);
    bed.double.delay(Duration::from_millis(100));

    for wave in 1..=2 {
        let answers = get_me_all(&bed, &tokens).await?;
        for (user_id, answer) in (1..).zip(answers) {
            assert_eq!(answer?.id, user_id);
        }
        assert_eq!(bed.double.calls(), 20 * wave);
    }
    // Refused once; the second wave did not ask again.
    assert_eq!(bed.double.refused_batches(), 1);
    assert_eq!(bed.guard.stats().batch_calls, 0);
    Ok(())
}

#[tokio::test]
async fn a_slow_auth_service_times_out_waiting_validations_at_the_call_timeout() -> anyhow::Result<()> {
    let config = GuardConfig { call_timeout: Duration::from_millis(300), ..one_slot() };
    let bed = TestBed::spawn(config).await?;
    let tokens = tokens(10);
    accept_all(&bed, &tokens);
    bed.double.delay(Duration::from_secs(3));

    let started = Instant::now();
    let answers = get_me_all(&bed, &tokens).await?;

    assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
    for answer in answers {
        let late = answer.expect_err("the answer comes too late");
        assert_eq!(late.code(), Code::DeadlineExceeded);
        assert_eq!(reason(&late), "AUTH_TIMEOUT");
    }
    Ok(())
}

#[tokio::test]
async fn a_stopped_auth_service_fails_every_waiting_validation_with_unavailable() -> anyhow::Result<()> {
    let mut bed = TestBed::spawn(one_slot()).await?;
    let tokens = tokens(20);
    accept_all(&bed, &tokens);
    bed.stop_auth().await?;

    let answers = get_me_all(&bed, &tokens).await?;

    for answer in answers {
        let refused = answer.expect_err("nobody can vouch for the token");
        assert_eq!(refused.code(), Code::Unavailable);
        assert_eq!(reason(&refused), "AUTH_UNAVAILABLE");
    }
    Ok(())
}

#[tokio::test]
async fn huge_tokens_never_make_a_batch_too_large_for_the_auth_service() -> anyhow::Result<()> {
    let bed = TestBed::spawn(one_slot()).await?;
    // 300 tokens of 20 KB: 6 MB in all, where a gRPC server reads at most 4 MiB per message.
    let tokens: Vec<String> = (0..300).map(|n| format!("{n:03}{}", "x".repeat(20_000))).collect();
    accept_all(&bed, &tokens);

    // Polled together: the first takes the slot, the others wait and go in batches.
    let checks = tokens.iter().map(|token| bed.guard.authenticate(token, None));
    let answers = within(Duration::from_secs(10), futures::future::join_all(checks)).await?;

    for (user_id, answer) in (1..).zip(answers) {
        assert_eq!(answer?.user_id, user_id);
    }
    let batches = bed.double.batch_sizes();
    assert!(batches.len() >= 6, "6 MB of tokens in {} batches: {batches:?}", batches.len());
    assert!(batches.iter().all(|&size| size * 20_003 <= 1024 * 1024), "batches: {batches:?}");
    Ok(())
}
