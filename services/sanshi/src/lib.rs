//! Commands of the `sanshi` binary.

pub mod dev;
pub mod national;
pub mod seed;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "sanshi",
    version,
    about = "Sanshi (三师进社区) platform: run services, the dev stack and migrations"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Runs every service and the gateway in one process on the default
    /// ports, each with its own SQLite file, seeded with real region data and
    /// demo accounts. Its settings can be overridden by --config, then by
    /// SANSHI_<SERVICE>__<SECTION>__<KEY> environment variables
    /// (SANSHI_GATEWAY__LIMITS__PER_IP_BURST=1000).
    Dev {
        /// Folder for the SQLite files.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Host the services listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// TOML file with a table per service ([gateway.limits], [records.rules] …).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Run on existing databases instead of the SQLite files: this prefix
        /// plus each service's name (as `seed-national` writes them, e.g.
        /// postgres://postgres@127.0.0.1:5432/natl_).
        #[arg(long)]
        database_url_prefix: Option<String>,
        /// Skip the demo data (applications, profiles, records).
        #[arg(long)]
        no_seed: bool,
    },
    /// Runs one service from configuration (defaults, then --config, then
    /// SANSHI_* environment variables): the Kubernetes entry point.
    Serve {
        service: Service,
        /// TOML configuration file.
        #[arg(long, env = "SANSHI_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Applies a service's database migrations and exits.
    Migrate {
        service: Service,
        #[arg(long, env = "SANSHI_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Prints a service's built-in default configuration.
    Config { service: Service },
    /// Fills the services' databases (created when missing, migrated) with
    /// a national programme for benchmarks: China's urban communities and
    /// synthetic professionals, matches and two years of scored visits.
    /// Runs once: does nothing when the data is there (--fresh starts over).
    SeedNational(national::Options),
    /// Matching tools for offline use and audits.
    Matching {
        #[command(subcommand)]
        command: MatchingCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum MatchingCommand {
    /// Solves a batch assignment exactly (the service's solver) from a JSON
    /// instance; exit code 2 on bad input. The format is in the README.
    Solve {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        output: PathBuf,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Identity,
    Qualification,
    Matching,
    Records,
    Incentive,
    Notification,
    Gateway,
}

/// Runs a command; the exit code is the solver's for `matching solve`.
pub async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    if let Command::Matching {
        command: MatchingCommand::Solve { input, output },
    } = &cli.command
    {
        let code = matching_solver::cli::run(input, output);
        return Ok(std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }
    run_service_command(cli.command)
        .await
        .map(|()| std::process::ExitCode::SUCCESS)
}

async fn run_service_command(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Matching { .. } => Ok(()),
        Command::Dev {
            data_dir,
            host,
            config,
            database_url_prefix,
            no_seed,
        } => {
            let options = dev::Options {
                config,
                database_url_prefix,
                seed: !no_seed,
            };
            dev::run(&data_dir, &host, &options).await
        }
        Command::SeedNational(options) => national::run(options).await,
        Command::Serve { service, config } => serve(service, config).await,
        Command::Migrate { service, config } => migrate(service, config).await,
        Command::Config { service } => {
            print!(
                "{}",
                match service {
                    Service::Identity => identity::config::DEFAULTS,
                    Service::Qualification => qualification::config::DEFAULTS,
                    Service::Matching => matching::config::DEFAULTS,
                    Service::Records => records::config::DEFAULTS,
                    Service::Incentive => incentive::config::DEFAULTS,
                    Service::Notification => notification::config::DEFAULTS,
                    Service::Gateway => gateway::config::DEFAULTS,
                }
            );
            Ok(())
        }
    }
}

async fn serve(service: Service, file: Option<PathBuf>) -> anyhow::Result<()> {
    let shutdown = kit::server::shutdown_signal();
    match service {
        Service::Identity => {
            let config = identity::Config::load(file.as_deref())?;
            let _telemetry = kit::telemetry::init(identity::NAME, &config.telemetry)?;
            identity::serve(config, shutdown).await
        }
        Service::Qualification => {
            let config = qualification::Config::load(file.as_deref())?;
            let _telemetry = kit::telemetry::init(qualification::NAME, &config.telemetry)?;
            qualification::serve(config, shutdown).await
        }
        Service::Matching => {
            let config = matching::Config::load(file.as_deref())?;
            let _telemetry = kit::telemetry::init(matching::NAME, &config.telemetry)?;
            matching::serve(config, shutdown).await
        }
        Service::Records => {
            let config = records::Config::load(file.as_deref())?;
            let _telemetry = kit::telemetry::init(records::NAME, &config.telemetry)?;
            records::serve(config, shutdown).await
        }
        Service::Incentive => {
            let config = incentive::Config::load(file.as_deref())?;
            let _telemetry = kit::telemetry::init(incentive::NAME, &config.telemetry)?;
            incentive::serve(config, shutdown).await
        }
        Service::Notification => {
            let config = notification::Config::load(file.as_deref())?;
            let _telemetry = kit::telemetry::init(notification::NAME, &config.telemetry)?;
            notification::serve(config, shutdown).await
        }
        Service::Gateway => {
            let config = gateway::Config::load(file.as_deref())?;
            let _telemetry = kit::telemetry::init(gateway::NAME, &config.telemetry)?;
            gateway::serve(config, shutdown).await
        }
    }
}

async fn migrate(service: Service, file: Option<PathBuf>) -> anyhow::Result<()> {
    match service {
        Service::Identity => {
            let config = identity::Config::load(file.as_deref())?;
            let _telemetry = kit::telemetry::init(identity::NAME, &config.telemetry)?;
            identity::migrate(&config).await?;
            tracing::info!(service = identity::NAME, "migrations applied");
            Ok(())
        }
        Service::Qualification => {
            let config = qualification::Config::load(file.as_deref())?;
            let _telemetry = kit::telemetry::init(qualification::NAME, &config.telemetry)?;
            qualification::migrate(&config).await?;
            tracing::info!(service = qualification::NAME, "migrations applied");
            Ok(())
        }
        Service::Matching => {
            let config = matching::Config::load(file.as_deref())?;
            let _telemetry = kit::telemetry::init(matching::NAME, &config.telemetry)?;
            matching::migrate(&config).await?;
            tracing::info!(service = matching::NAME, "migrations applied");
            Ok(())
        }
        Service::Records => {
            let config = records::Config::load(file.as_deref())?;
            let _telemetry = kit::telemetry::init(records::NAME, &config.telemetry)?;
            records::migrate(&config).await?;
            tracing::info!(service = records::NAME, "migrations applied");
            Ok(())
        }
        Service::Incentive => {
            let config = incentive::Config::load(file.as_deref())?;
            let _telemetry = kit::telemetry::init(incentive::NAME, &config.telemetry)?;
            incentive::migrate(&config).await?;
            tracing::info!(service = incentive::NAME, "migrations applied");
            Ok(())
        }
        Service::Notification => {
            let config = notification::Config::load(file.as_deref())?;
            let _telemetry = kit::telemetry::init(notification::NAME, &config.telemetry)?;
            notification::migrate(&config).await?;
            tracing::info!(service = notification::NAME, "migrations applied");
            Ok(())
        }
        Service::Gateway => anyhow::bail!("the gateway has no database"),
    }
}
