using GuestMemory.Gmm;
using System.CommandLine;
using System.Globalization;
using GuestMemory.Qemu;

namespace GuestMemory.Cli.Commands.Qemu;

/// <summary>The options the <c>gmm qemu store</c> and <c>gmm qemu resume</c> commands share, and how they open a store.</summary>
internal static class StoreOptions
{
    public static Option<string> Dir(bool required) => new("--dir")
    {
        Description = required ? "The store's folder" : "The folder the VMs persist in (survives a restart); without it they live in this process's memory only",
        Required = required,
    };

    public static Option<int> HostMib() => new Option<int>("--host-mib") { Description = "Host memory the store's GuestMemory host may use, MiB", DefaultValueFactory = _ => 8192 }.Within(64, 1 << 22);

    public static Argument<string> Name() => new("NAME") { Description = "The stored VM's name (see gmm qemu store list)" };

    /// <summary>--to HOST:PORT, checked when parsed.</summary>
    public static Option<string> To(string what, string name = "--to", bool required = true)
    {
        var to = new Option<string>(name) { Description = what, Required = required };
        to.Validators.Add(r =>
        {
            string? text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : null;
            if (text != null && TryHostPort(text, out _, out _) is false) r.AddError($"{name} must be HOST:PORT with a port of 1-65535, not '{text}'");
        });
        return to;
    }

    public static (string Host, int Port) HostPort(string text) =>
        TryHostPort(text, out string host, out int port) ? (host, port) : throw new QemuException(QemuError.InvalidArgument, $"'{text}' is not HOST:PORT");

    private static bool TryHostPort(string text, out string host, out int port)
    {
        int colon = text.LastIndexOf(':');
        host = colon > 0 ? text[..colon] : "";
        port = 0;
        return colon > 0 && int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535;
    }

    /// <summary>A Gmm for a store of <paramref name="hostMib"/> MiB.</summary>
    public static GlobalMemoryManager Gmm(int hostMib) => new(new GmmOptions { HostMemoryLimit = (long)hostMib << 20 });

    /// <summary>The JSON fields of one stored VM (for list and the arrivals of listen).</summary>
    public static IEnumerable<KeyValuePair<string, object?>> Fields(StoredVmInfo v) =>
    [
        new("name", v.Name), new("machine", v.Machine), new("guest_ram_bytes", v.GuestRamBytes), new("main_ram_bytes", v.MainRamBytes), new("nonzero_pages", v.NonZeroPages),
        new("alone_pages", v.AlonePages), new("shared_pages", v.SharedPages), new("file_bytes", v.FileBytes), new("resident", v.Resident), new("devices", v.Devices),
    ];

    public static string Mib(long bytes) => $"{bytes / (1024.0 * 1024):N1} MiB";
}
