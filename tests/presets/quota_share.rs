//! `OpenAiChat::token_quota_share` is validated where it is set, never first at `schedule`, and
//! the default budgets the whole quota (no margin needed).

use tollgate::presets::{OpenAiChat, QuotaShareError};

#[test]
fn impossible_shares_are_typed_errors_at_the_setter() {
    let chat = OpenAiChat::new(3_500, 90_000, 4_096);
    assert!(matches!(
        chat.token_quota_share(f64::NAN),
        Err(QuotaShareError::NotANumber { .. })
    ));
    assert!(matches!(
        chat.token_quota_share(f64::INFINITY),
        Err(QuotaShareError::NotANumber { .. })
    ));
    assert_eq!(
        chat.token_quota_share(-0.5),
        Err(QuotaShareError::NotPositive { share: -0.5 })
    );
    assert_eq!(
        chat.token_quota_share(0.0),
        Err(QuotaShareError::NotPositive { share: 0.0 })
    );
    assert_eq!(
        chat.token_quota_share(1e-9),
        Err(QuotaShareError::NoTokensLeft {
            share: 1e-9,
            tokens_per_minute: 90_000
        })
    );
    let above = chat.token_quota_share(1.2).unwrap_err();
    assert_eq!(above, QuotaShareError::AboveOne { share: 1.2 });
    assert!(above.to_string().contains("at most 1.0"), "{above}");
}

#[test]
fn the_default_is_the_whole_quota_and_a_valid_share_budgets_its_part() {
    let chat = OpenAiChat::new(3_500, 90_000, 4_096);
    assert_eq!(chat.quota_share(), 1.0);
    assert_eq!(chat.token_quota(), 90_000);
    assert_eq!(chat.limits().get("tokens").unwrap().quantity(), 90_000);
    let half = chat.token_quota_share(0.5).unwrap();
    assert_eq!(half.token_quota(), 45_000);
    assert_eq!(chat.token_quota_share(1.0).unwrap().token_quota(), 90_000);
}
