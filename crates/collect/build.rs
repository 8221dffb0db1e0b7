//! Builds the eBPF accounting program (feature `ebpf`, on by default) with libbpf-cargo:
//! src/ebpf/nrec.bpf.c → an object embedded in a generated skeleton ($OUT_DIR/nrec.skel.rs).
//! It needs clang (BPF target) and libelf/zlib headers (for libbpf itself); when they are
//! missing the build stops with one message saying what to install, or how to build without.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "ebpf")]
    ebpf::build();
}

#[cfg(feature = "ebpf")]
mod ebpf {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    const SRC: &str = "src/ebpf/nrec.bpf.c";

    fn missing(what: &str) -> ! {
        panic!(
            "\n\nnrec: the `ebpf` feature (on by default) needs {what}.\n\
             On Debian/Ubuntu: apt-get install clang libelf-dev zlib1g-dev make pkg-config\n\
             Or build without eBPF accounting: cargo build --no-default-features\n\n"
        );
    }

    pub(crate) fn build() {
        println!("cargo:rerun-if-changed={SRC}");
        println!("cargo:rerun-if-env-changed=CLANG");
        let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
        let ok = Command::new(&clang)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            missing(&format!(
                "clang (`{clang}` was not found; set CLANG to another path)"
            ));
        }
        let have_header = |h: &str| {
            ["/usr/include", "/usr/local/include"]
                .iter()
                .any(|d| Path::new(d).join(h).exists())
        };
        if !have_header("libelf.h") && !have_header("libelf/libelf.h") {
            missing("libelf-dev (libelf.h was not found)");
        }
        if !have_header("zlib.h") {
            missing("zlib1g-dev (zlib.h was not found)");
        }
        // libbpf-sys builds its vendored libbpf with make, finding libelf/zlib via pkg-config.
        for tool in ["make", "pkg-config"] {
            let found = Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            if !found {
                missing(&format!("{tool} (not found on PATH)"));
            }
        }
        // <linux/types.h> includes <asm/types.h>, which lives under the multiarch directory.
        let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
        let multiarch = match arch.as_str() {
            "x86_64" => "x86_64-linux-gnu",
            "aarch64" => "aarch64-linux-gnu",
            "riscv64" => "riscv64-linux-gnu",
            "powerpc64" => "powerpc64le-linux-gnu",
            "s390x" => "s390x-linux-gnu",
            other => other,
        };
        let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("nrec.skel.rs");
        let res = libbpf_cargo::SkeletonBuilder::new()
            .source(SRC)
            .clang(&clang)
            .clang_args([
                format!("-I/usr/include/{multiarch}"),
                "-Wall".to_string(),
                "-O2".to_string(),
            ])
            .build_and_generate(&out);
        if let Err(e) = res {
            panic!(
                "\n\nnrec: building {SRC} failed: {e:#}\n(needs clang with the BPF target; or build with --no-default-features)\n\n"
            );
        }
    }
}
