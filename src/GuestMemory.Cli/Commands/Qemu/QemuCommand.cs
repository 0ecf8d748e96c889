using System.CommandLine;
using GuestMemory.Qemu;

namespace GuestMemory.Cli.Commands.Qemu;

/// <summary><c>gmm qemu run|dump|list</c>: real Linux guests under QEMU whose RAM gmm owns (docs/qemu.md).</summary>
internal static class QemuCommand
{
    public static Command Create()
    {
        var qemu = new Command("qemu", "Run real Linux guests under QEMU with their RAM in memory gmm owns, watch it live, dump it");
        qemu.Subcommands.Add(QemuRunCommand.Create());
        qemu.Subcommands.Add(QemuDumpCommand.Create());
        qemu.Subcommands.Add(QemuListCommand.Create());
        qemu.Subcommands.Add(QemuStoreCommand.Create());
        qemu.Subcommands.Add(QemuResumeCommand.Create());
        return qemu;
    }

    /// <summary>
    /// Keeps a text option to <paramref name="values"/> with one short line when it is not
    /// (System.CommandLine's own check lists the values on lines of their own).
    /// </summary>
    internal static Option<string> OneOf(Option<string> option, params string[] values)
    {
        option.Validators.Add(r =>
        {
            string? value = r.GetValueOrDefault<string>();
            if (value != null && !values.Contains(value, StringComparer.Ordinal))
                r.AddError($"{option.Name} must be {string.Join(", ", values[..^1])} or {values[^1]}, not '{value}'");
        });
        return option;
    }

    /// <summary><c>--accel auto|tcg|kvm</c>, for every command and benchmark that starts guests.</summary>
    internal static Option<string> AccelOption() =>
        OneOf(new Option<string>("--accel") { Description = "CPU accelerator: auto (kvm only where it works), tcg or kvm", DefaultValueFactory = _ => "auto" }, "auto", "tcg", "kvm");

    /// <summary>The accelerator <see cref="AccelOption"/> names, with auto settled to what works on this host.</summary>
    internal static Accelerator ResolveAccel(string? value) =>
        AcceleratorProbe.Resolve(value switch { "tcg" => Accelerator.Tcg, "kvm" => Accelerator.Kvm, _ => Accelerator.Auto });

    /// <summary>The options that choose a guest's kernel, image and accelerator, shared by the commands that start guests.</summary>
    internal sealed class GuestSetup
    {
        public readonly Option<string?> Kernel = new("--kernel") { Description = "Guest kernel (bzImage); default: the newest /boot/vmlinuz-* with its modules" };
        public readonly Option<string?> Initrd = new("--initrd") { Description = "An initramfs of your own instead of the image gmm builds (the guests then get no command channel)" };
        public readonly Option<string?> Modules = new("--modules") { Description = "The kernel's module folder (lib/modules/VERSION); default: found beside the kernel" };
        public readonly Option<string> Accel = AccelOption();

        public void AddTo(Command command)
        {
            command.Options.Add(Kernel);
            command.Options.Add(Initrd);
            command.Options.Add(Modules);
            command.Options.Add(Accel);
        }

        /// <summary>The kernel, the image (built into the run folder unless --initrd) and the accelerator the options say.</summary>
        public (GuestKernel Kernel, GuestImage? Image, string? CustomInitrd, Accelerator Accelerator) Resolve(ParseResult p)
        {
            string? initrd = p.GetValue(Initrd);
            if (initrd != null && !File.Exists(initrd)) throw new QemuException(QemuError.InvalidArgument, $"--initrd {initrd} does not exist");
            GuestKernel kernel = GuestKernel.Find(p.GetValue(Kernel), p.GetValue(Modules), requireModules: initrd == null);
            GuestImage? image = initrd == null ? GuestImage.BuildCached(kernel, GuestImage.DefaultCacheDirectory) : null;
            Accelerator accelerator = ResolveAccel(p.GetValue(Accel));
            return (kernel, image, initrd == null ? null : Path.GetFullPath(initrd), accelerator);
        }
    }
}
