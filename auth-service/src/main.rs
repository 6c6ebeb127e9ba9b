//! The auth-service binary: serves the API (`serve`, the default), applies its migrations
//! (`migrate`), or manages administrator accounts and roles (`admin create|grant|revoke`, see
//! `admin`).

use auth_service::admin::{self, NewAdmin};
use auth_service::settings::Settings;
use auth_service::startup;
use clap::{Parser, Subcommand};
use secrecy::SecretString;
use servicekit::auth::Role;
use servicekit::cli::{self, ServiceCommand};
use std::process::ExitCode;

/// auth-service: registration, password and one-time-code login, JWT access tokens and
/// rotating refresh tokens, and the administrator accounts.
#[derive(Parser)]
#[command(name = "auth-service", version, after_help = cli::after_help(EXAMPLES))]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Service(ServiceCommand),
    /// Create administrator accounts, grant and take back roles (applies pending migrations
    /// first)
    #[command(subcommand, after_help = ADMIN_EXAMPLES)]
    Admin(AdminCommand),
}

const EXAMPLES: &str = "\
auth-service           serve on APP_HTTP__PORT
auth-service migrate   apply pending migrations to APP_DATABASE__URL
auth-service admin create --email ops@example.com
                       create an admin account, its password from RAILRUSH_ADMIN_PASSWORD";

#[derive(Subcommand)]
enum AdminCommand {
    /// Give an account the admin role, creating it when no account has the e-mail address
    #[command(after_help = CREATE_EXAMPLES)]
    Create {
        /// The account's e-mail address (the login)
        #[arg(long)]
        email: String,
        /// The password of a new account (8 to 128 characters); an existing account keeps
        /// its own
        #[arg(long, env = "RAILRUSH_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<SecretString>,
        /// The name of a new account
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// The phone number of a new account, in E.164 form (every account has its own);
        /// without one the account signs in by e-mail and password only
        #[arg(long, value_name = "E164")]
        phone: Option<String>,
    },
    /// Give an existing account a role
    #[command(after_help = GRANT_EXAMPLES)]
    Grant {
        /// The account's e-mail address
        #[arg(long)]
        email: String,
        /// The role to give
        #[arg(long, value_parser = ROLES)]
        role: String,
    },
    /// Take a role (the admin role unless --role says another) from an account; it stays an
    /// account
    #[command(after_help = REVOKE_EXAMPLES)]
    Revoke {
        /// The account's e-mail address
        #[arg(long)]
        email: String,
        /// The role to take back
        #[arg(long, value_parser = ROLES, default_value = "admin")]
        role: String,
    },
}

/// The roles the commands give and take (`passenger` is everyone's).
const ROLES: [&str; 2] = ["conductor", "admin"];

/// The role clap accepted (one of [`ROLES`]).
fn role(name: &str) -> anyhow::Result<Role> {
    Role::parse(name).ok_or_else(|| anyhow::anyhow!("--role: {name:?} is not a role"))
}

const ADMIN_EXAMPLES: &str = "\
Examples:
  auth-service admin create --email ops@example.com --password 'long-password'
  auth-service admin grant --email karim@example.com --role conductor
  auth-service admin revoke --email ops@example.com";

const CREATE_EXAMPLES: &str = "\
Examples:
  RAILRUSH_ADMIN_PASSWORD='long-password' auth-service admin create \\
      --email ops@example.com --phone +8801700000001 --name 'Ops Team'
  auth-service admin create --email rahim@example.com      promote an existing account

Prints one line saying what it did. --password works too, but shows in the process list
and the shell's history; the environment variable does not.";

const GRANT_EXAMPLES: &str = "\
Examples:
  auth-service admin grant --email karim@example.com --role conductor

The account must exist. The role shows from its next sign-in or token refresh.";

const REVOKE_EXAMPLES: &str = "\
Examples:
  auth-service admin revoke --email ops@example.com
  auth-service admin revoke --email karim@example.com --role conductor

Tokens issued before keep the role until they expire (APP_JWT__ACCESS_TTL_SECS).";

#[global_allocator]
static ALLOCATOR: servicekit::Allocator = servicekit::Allocator;

fn main() -> ExitCode {
    cli::run(|cli: Cli| async move {
        let settings: Settings = servicekit::config::load("auth-service")?;
        let (log, database) = (settings.log.clone(), settings.database.clone());
        let admin = match cli
            .command
            .unwrap_or(Command::Service(ServiceCommand::Serve))
        {
            Command::Service(command) => {
                let build = || startup::build(settings);
                return cli::run_service(
                    "auth-service",
                    command,
                    &log,
                    &database,
                    startup::migrations,
                    build,
                )
                .await;
            }
            Command::Admin(admin) => admin,
        };
        let pool = cli::migrated_pool(&log, &database, startup::migrations).await?;
        let outcome = match admin {
            AdminCommand::Create {
                email,
                password,
                name,
                phone,
            } => {
                let new = NewAdmin {
                    email,
                    password,
                    name,
                    phone,
                };
                admin::create(&pool, new).await?
            }
            AdminCommand::Grant { email, role: name } => {
                admin::grant(&pool, &email, role(&name)?).await?
            }
            AdminCommand::Revoke { email, role: name } => {
                admin::revoke(&pool, &email, role(&name)?).await?
            }
        };
        println!("auth-service: {outcome}");
        Ok(())
    })
}
