//! `cluster-links`: see [`strait_tools::cluster_links`].

fn main() -> std::process::ExitCode {
    strait_tools::cluster_links::main(std::env::args_os())
}
