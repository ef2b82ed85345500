"""Sign-in: login with the second step, account set-up (onboarding), re-authentication and the
access middleware. Above accounts and tokens, so that accounts never imports tokens."""
