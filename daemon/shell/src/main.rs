//! tvmeshd: the tvmesh daemon. See `--help`.

#![allow(dead_code)] // while the shell is assembled

mod clock;
mod http;
mod io;
mod reactor;

fn main() {}
