//! `mirrors`: see [`strait_tools::mirrors`].

fn main() -> std::process::ExitCode {
    strait_tools::mirrors::main(std::env::args_os())
}
